import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HistoryEntry } from '@flotilla/projections';
import {
  PlatformProcess,
  TargetServer,
  eventually,
  freePort,
  openEventStream,
  sleep,
  startWebhookReceiver,
  tempDir,
} from '@flotilla/testing';

interface Answer<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/**
 * Keys, roles and the actor, with auth on, on the real product process: the first-start admin key,
 * keys made through the API, 401/403/429, revocation, and the actor taken from the key.
 */
describe('auth: keys, roles, the actor (AUTH on)', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;
  let admin: string;

  const call = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    key: string | undefined,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer<T>> => {
    const response = await fetch(`${app.url}${path}`, {
      method,
      headers: {
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as T };
  };

  const createKey = async (team: string, role: string, name: string): Promise<{ id: string; key: string }> => {
    const created = await call<{ id: string; key: string }>('POST', '/v1/keys', admin, { team, role, name });
    expect(created.status).toBe(201);
    return created.body;
  };

  const workflow = (id: string) => ({ id, name: id, inputs: [{ name: 'n' }], target: { url: target.url } });
  // Slow: one item a minute, so it is still running when the test steers it.
  const batch = (workflowId: string) => ({
    name: 'b',
    workflowId,
    maxConcurrent: 1,
    batchIntervalSeconds: 60,
    items: [{ inputs: { n: '1' } }, { inputs: { n: '2' } }],
  });

  beforeAll(async () => {
    data = tempDir('flotilla-auth-e2e-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path, { AUTH: 'enabled', RATE_LIMIT_PER_MINUTE: '100', JSON_BODY_LIMIT: '64kb' });
    await app.start();
    admin = readFileSync(join(data.path, 'admin.key'), 'utf8').trim();
  });

  afterAll(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  it('creates an admin key for team default on first start, printed once and written with mode 0600', async () => {
    expect(admin).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(data.path, 'admin.key')).mode & 0o777).toBe(0o600);
    expect(app.output.join('').split(admin).length - 1).toBe(1);
    const keys = await call<{ keys: Record<string, unknown>[] }>('GET', '/v1/keys', admin);
    expect(keys.status).toBe(200);
    expect(keys.body.keys).toContainEqual(expect.objectContaining({ team: 'default', role: 'admin', name: 'admin' }));
  });

  it('answers 401 with WWW-Authenticate: Bearer without a key, with an unknown one, and leaves /health and /docs-json open', async () => {
    for (const key of [undefined, 'flt_not-a-key-of-this-deployment']) {
      const answer = await call('GET', '/v1/batches', key);
      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
      expect(answer.body).toMatchObject({ statusCode: 401, error: 'Unauthorized', message: expect.any(String) });
    }
    const basic = await call('GET', '/v1/batches', undefined, undefined, { authorization: `Basic ${admin}` });
    expect(basic.status).toBe(401);
    expect((await call('GET', '/health', undefined)).status).toBe(200);
    expect((await call('GET', '/docs-json', undefined)).status).toBe(200);
  });

  it('lists keys without the key or its hash, and validates the body naming the field', async () => {
    const created = await call<Record<string, unknown>>('POST', '/v1/keys', admin, { team: 'alpha', role: 'submitter', name: 'lister' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      key: expect.stringMatching(/^flt_/),
      team: 'alpha',
      role: 'submitter',
      name: 'lister',
      createdAt: expect.any(String),
    });
    const listed = await call<{ keys: Record<string, unknown>[] }>('GET', '/v1/keys', admin);
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(String(created.body['key']));
    expect(text).not.toContain('hash');
    expect(listed.body.keys.find((key) => key['id'] === created.body['id'])).toEqual({
      id: created.body['id'],
      team: 'alpha',
      role: 'submitter',
      name: 'lister',
      createdAt: created.body['createdAt'],
    });
    const bad = await call<{ details: { field: string }[] }>('POST', '/v1/keys', admin, { team: 'Alpha/Team', role: 'root', name: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.details.map((detail) => detail.field)).toEqual(expect.arrayContaining(['team', 'role']));
    expect((await call('DELETE', '/v1/keys/key_nobody', admin)).status).toBe(404);
  });

  it('lets only admins manage keys (403), operators steer batches but not create them, submitters not steer keys', async () => {
    const submitter = await createKey('alpha', 'submitter', 'ci');
    const operator = await createKey('ops', 'operator', 'oncall');
    for (const key of [submitter.key, operator.key]) {
      expect((await call('POST', '/v1/keys', key, { team: 'alpha', role: 'admin', name: 'me' })).status).toBe(403);
      expect((await call('GET', '/v1/keys', key)).status).toBe(403);
      expect((await call('DELETE', `/v1/keys/${submitter.id}`, key)).status).toBe(403);
    }
    expect((await call('POST', '/v1/workflows', submitter.key, workflow('w-roles'))).status).toBe(201);
    const created = await call<{ id: string }>('POST', '/v1/batches', submitter.key, batch('w-roles'));
    expect(created.status).toBe(201);
    expect((await call('POST', '/v1/batches', operator.key, batch('w-roles'))).status).toBe(403);
    const paused = await call('POST', `/v1/batches/${created.body.id}/pause`, operator.key, { reason: 'night' });
    expect(paused.status).toBe(200);
    expect((await call('GET', `/v1/batches/${created.body.id}`, operator.key)).body).toMatchObject({ status: 'paused' });
  });

  it('records the key as the actor, <team>/<name>, never what X-Actor claims', async () => {
    const submitter = await createKey('alpha', 'submitter', 'actor-ci');
    const operator = await createKey('ops', 'operator', 'actor-oncall');
    expect((await call('POST', '/v1/workflows', submitter.key, workflow('w-actor'), { 'x-actor': 'root' })).status).toBe(201);
    const created = await call<{ id: string }>('POST', '/v1/batches', submitter.key, batch('w-actor'), { 'x-actor': 'someone-else' });
    expect(created.status).toBe(201);
    const cancel = await call('POST', `/v1/batches/${created.body.id}/cancel`, operator.key, { reason: 'drill' }, { 'x-actor': 'the-ceo' });
    expect(cancel.status).toBe(200);
    const history = await call<{ items: HistoryEntry[] }>('GET', `/v1/batches/${created.body.id}/history`, admin);
    const actors = Object.fromEntries(history.body.items.map((entry) => [entry.type, entry.actor]));
    expect(actors).toMatchObject({ BatchCreated: 'alpha/actor-ci', BatchCancelled: 'ops/actor-oncall' });
    expect(JSON.stringify(history.body)).not.toMatch(/someone-else|the-ceo/);
  });

  it('keeps two teams blind to each other (404s, lists) while an operator and an admin see and act across them', async () => {
    const alpha = await createKey('alpha', 'submitter', 'blind-a');
    const beta = await createKey('beta', 'submitter', 'blind-b');
    const operator = await createKey('ops', 'operator', 'blind-ops');
    expect((await call('POST', '/v1/workflows', alpha.key, workflow('w-alpha'))).status).toBe(201);
    expect((await call('POST', '/v1/workflows', beta.key, workflow('w-beta'))).status).toBe(201);
    const ofAlpha = (await call<{ id: string }>('POST', '/v1/batches', alpha.key, batch('w-alpha'))).body.id;
    const ofBeta = (await call<{ id: string }>('POST', '/v1/batches', beta.key, batch('w-beta'))).body.id;
    const unknown = await call<Record<string, unknown>>('GET', '/v1/batches/bat_00000000000000000000000000', beta.key);
    for (const path of [
      `/v1/batches/${ofAlpha}`,
      `/v1/batches/${ofAlpha}/executions`,
      `/v1/batches/${ofAlpha}/history`,
      `/v1/batches/${ofAlpha}/results`,
      `/v1/executions/${ofAlpha}.0`,
      `/workflow_runs/${ofAlpha}.0`,
    ]) {
      const answer = await call<Record<string, unknown>>('GET', path, beta.key);
      expect({ path, status: answer.status }).toEqual({ path, status: 404 });
    }
    const foreign = await call<Record<string, unknown>>('GET', `/v1/batches/${ofAlpha}`, beta.key);
    expect(Object.keys(foreign.body).sort()).toEqual(Object.keys(unknown.body).sort());
    for (const path of ['/v1/workflows/w-alpha', '/v1/workflows/w-alpha/history'])
      expect({ path, status: (await call('GET', path, beta.key)).status }).toEqual({ path, status: 404 });
    expect((await call('POST', '/v1/workflows/w-alpha/hold', beta.key, { reason: 'mine now' })).status).toBe(404);
    expect(
      (await call('POST', '/v1/workflows/w-alpha/versions', beta.key, { name: 'v2', inputs: [{ name: 'n' }], target: { url: target.url } }))
        .status,
    ).toBe(404);
    expect((await call('POST', '/v1/batches', beta.key, batch('w-alpha'))).status).toBe(404);
    // Nor can beta learn that w-alpha exists by planning or previewing a batch of it.
    expect((await call('POST', '/v1/batches/plan', beta.key, batch('w-alpha'))).status).toBe(404);
    expect((await call('POST', '/v1/batches/plan', alpha.key, batch('w-alpha'))).status).toBe(200);
    const preview = (key: string) => {
      const form = new FormData();
      form.set('workflowId', 'w-alpha');
      form.set('file', new Blob(['n\n1\n'], { type: 'text/csv' }), 'items.csv');
      return fetch(`${app.url}/v1/batches/preview`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    };
    expect((await preview(beta.key)).status).toBe(404);
    expect((await preview(alpha.key)).status).toBe(200);
    expect((await call('GET', '/v1/workflows/w-alpha', operator.key)).status).toBe(200);
    const hook = await call<{ id: string }>('POST', '/v1/webhooks', alpha.key, {
      url: 'http://127.0.0.1:9/hooks',
      events: ['batch.completed'],
      secret: 'alpha-secret-0123456789',
    });
    expect(hook.status).toBe(201);
    for (const path of [`/v1/webhooks/${hook.body.id}`, `/v1/webhooks/${hook.body.id}/deliveries`]) {
      expect({ path, status: (await call('GET', path, beta.key)).status }).toEqual({ path, status: 404 });
      expect({ path, status: (await call('GET', path, alpha.key)).status }).toEqual({ path, status: 200 });
    }
    for (const action of ['pause', 'cancel'])
      expect((await call('POST', `/v1/batches/${ofAlpha}/${action}`, beta.key, {})).status).toBe(404);
    expect((await call('PATCH', `/v1/batches/${ofAlpha}`, beta.key, { maxConcurrent: 2 })).status).toBe(404);
    expect((await call('POST', `/v1/executions/${ofAlpha}.1/cancel`, beta.key, {})).status).toBe(404);

    const idsOf = async (key: string) =>
      (await call<{ items: { id: string }[] }>('GET', '/v1/batches?limit=1000', key)).body.items.map((b) => b.id);
    const runsOf = async (key: string) =>
      (await call<{ data: { batchId?: string; id: string }[] }>('GET', '/workflow_runs?maxPageSize=1000', key)).body.data.map(
        (run) => run.id,
      );
    expect(await idsOf(alpha.key)).toContain(ofAlpha);
    expect(await idsOf(alpha.key)).not.toContain(ofBeta);
    expect(await idsOf(beta.key)).toEqual([ofBeta]);
    expect((await runsOf(beta.key)).every((id) => id.startsWith(`${ofBeta}.`))).toBe(true);
    for (const key of [operator.key, admin]) expect(await idsOf(key)).toEqual(expect.arrayContaining([ofAlpha, ofBeta]));

    // The operator acts on both teams' batches; the owner sees what it did.
    expect((await call('POST', `/v1/batches/${ofAlpha}/pause`, operator.key, { reason: 'maintenance' })).status).toBe(200);
    expect((await call('POST', `/v1/batches/${ofBeta}/cancel`, operator.key, { reason: 'maintenance' })).status).toBe(200);
    expect((await call('GET', `/v1/batches/${ofAlpha}`, alpha.key)).body).toMatchObject({ status: 'paused' });
    expect((await call('GET', `/v1/batches/${ofBeta}`, beta.key)).body).toMatchObject({ status: 'cancelled' });
    expect((await call('POST', `/v1/batches/${ofAlpha}/resume`, alpha.key, {})).status).toBe(200);
  });

  it('lets two teams each register a workflow of the same id, neither learning of the other, and operators name the one they mean', async () => {
    const iota = await createKey('iota', 'submitter', 'same-i');
    const kappa = await createKey('kappa', 'submitter', 'same-k');
    const operator = await createKey('ops', 'operator', 'same-ops');
    const registered = {} as Record<'iota' | 'kappa', { id: string }>;
    // Iota's webhook names the workflow as iota does: it hears iota's batch of it, not kappa's.
    const receiver = await startWebhookReceiver();
    const hook = { url: receiver.url, events: ['batch.started'], secret: 'iota-secret-0123456789', workflowId: 'w-same' };
    expect((await call('POST', '/v1/webhooks', iota.key, hook)).status).toBe(201);
    for (const [team, key] of [
      ['iota', iota.key],
      ['kappa', kappa.key],
    ] as const) {
      const answer = await call<{ id: string }>('POST', '/v1/workflows', key, { ...workflow('w-same'), name: `${team}'s` });
      expect(answer.status).toBe(201);
      expect(answer.body.id).toBe(`${team}:w-same`);
      // Again: a conflict within the team, named as the team named it.
      const again = await call<{ message: string }>('POST', '/v1/workflows', key, workflow('w-same'));
      expect({ status: again.status, message: again.body.message }).toEqual({
        status: 409,
        message: `Workflow ${team}:w-same already exists; to change it, add a version`,
      });
      const mine = await call<{ id: string; versions: { name: string }[] }>('GET', '/v1/workflows/w-same', key);
      expect({ status: mine.status, id: mine.body.id, name: mine.body.versions.at(-1)?.name }).toEqual({
        status: 200,
        id: `${team}:w-same`,
        name: `${team}'s`,
      });
      const created = await call<{ id: string }>('POST', '/v1/batches', key, batch('w-same'));
      expect(created.status).toBe(201);
      const view = await call<{ workflowId: string }>('GET', `/v1/batches/${created.body.id}`, key);
      expect(view.body.workflowId).toBe(`${team}:w-same`);
      registered[team] = { id: created.body.id };
    }
    try {
      await eventually(
        async () => receiver.deliveries.map((delivery) => delivery.body.batchId),
        (ids) => ids.includes(registered.iota.id),
        10_000,
        "iota's webhook to hear iota's batch of w-same start",
      );
      await sleep(500);
      expect(receiver.deliveries.map((delivery) => delivery.body.batchId)).toEqual([registered.iota.id]);
    } finally {
      await receiver.stop();
    }
    // The Extend API names workflows as the REST API does.
    const file = { ...workflow('w-file'), inputs: [{ name: 'file' }] };
    expect((await call('POST', '/v1/workflows', kappa.key, file)).status).toBe(201);
    const run = await call<{ batchId: string }>('POST', '/workflow_runs/batch', kappa.key, {
      workflow: { id: 'w-file' },
      inputs: [{ file: { id: 'f' } }],
    });
    expect(run.status).toBe(200);
    expect((await call<{ workflowId: string }>('GET', `/v1/batches/${run.body.batchId}`, kappa.key)).body.workflowId).toBe('kappa:w-file');
    expect(
      (await call('POST', '/workflow_runs/batch', iota.key, { workflow: { id: 'w-file' }, inputs: [{ file: { id: 'f' } }] })).status,
    ).toBe(404);
    // Each team's list filter by the bare id finds its own batch only.
    for (const [team, key, other] of [
      ['iota', iota.key, 'kappa'],
      ['kappa', kappa.key, 'iota'],
    ] as const) {
      const ids = (await call<{ items: { id: string }[] }>('GET', '/v1/batches?workflowId=w-same', key)).body.items.map((b) => b.id);
      expect(ids).toEqual([registered[team].id]);
      expect((await call('GET', `/v1/workflows/${other}:w-same`, key)).status).toBe(404);
    }
    // To an operator the bare id is ambiguous (409 listing both); the qualified ones name one each.
    const ambiguous = await call<{ message: string }>('GET', '/v1/workflows/w-same', operator.key);
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body.message).toContain('registered by several teams: name the one meant (iota:w-same, kappa:w-same)');
    const named = await call<{ versions: { name: string }[] }>('GET', '/v1/workflows/kappa:w-same', operator.key);
    expect({ status: named.status, name: named.body.versions.at(-1)?.name }).toEqual({ status: 200, name: "kappa's" });
    expect((await call('POST', '/v1/workflows/iota:w-same/hold', operator.key, { reason: 'target down' })).status).toBe(200);
    expect((await call<{ held: unknown }>('GET', '/v1/workflows/w-same', iota.key)).body.held).toMatchObject({ reason: 'target down' });
    expect((await call<{ held: unknown }>('GET', '/v1/workflows/w-same', kappa.key)).body.held).toBeNull();
  });

  it("keeps the console's reads to the key's team: the workflow and webhook lists, mappings, waves and both live streams", async () => {
    const eta = await createKey('eta', 'submitter', 'console-e');
    const theta = await createKey('theta', 'submitter', 'console-t');
    expect((await call('POST', '/v1/workflows', eta.key, workflow('w-eta'))).status).toBe(201);
    expect((await call('POST', '/v1/workflows', theta.key, workflow('w-theta'))).status).toBe(201);
    const hook = { events: ['batch.completed'], secret: 'console-secret-0123456789' };
    expect((await call('POST', '/v1/webhooks', eta.key, { ...hook, url: 'http://127.0.0.1:9/eta' })).status).toBe(201);
    expect((await call('POST', '/v1/webhooks', theta.key, { ...hook, url: 'http://127.0.0.1:9/theta' })).status).toBe(201);
    const ofEta = (await call<{ id: string }>('POST', '/v1/batches', eta.key, batch('w-eta'))).body.id;
    const ofTheta = (await call<{ id: string }>('POST', '/v1/batches', theta.key, batch('w-theta'))).body.id;

    const workflowIds = (await call<{ items: { id: string }[] }>('GET', '/v1/workflows?limit=1000', theta.key)).body.items.map((w) => w.id);
    // Workflow ids are per team: theta's is stored and shown as theta:w-theta, and w-theta names it to theta.
    expect(workflowIds).toEqual(['theta:w-theta']);
    const hookUrls = (await call<{ items: { url: string }[] }>('GET', '/v1/webhooks?limit=1000', theta.key)).body.items.map((h) => h.url);
    expect(hookUrls).toEqual(['http://127.0.0.1:9/theta']);
    expect((await call('GET', '/v1/workflows?limit=1000', admin)).body).toMatchObject({
      items: expect.arrayContaining([expect.objectContaining({ id: 'eta:w-eta' }), expect.objectContaining({ id: 'theta:w-theta' })]),
    });
    const mapping = { headers: ['n'], mapping: { n: { type: 'input', field: 'n' } } };
    expect((await call('PUT', '/v1/workflows/w-eta/mappings', theta.key, mapping)).status).toBe(404);
    expect((await call('GET', '/v1/workflows/w-eta/mappings', theta.key)).status).toBe(404);
    expect((await call('PUT', '/v1/workflows/w-eta/mappings', eta.key, mapping)).status).toBe(200);
    for (const path of [`/v1/batches/${ofEta}/waves`, `/v1/batches/${ofEta}/events`, `/v1/batches/${ofEta}/history?order=desc`])
      expect({ path, status: (await call('GET', path, theta.key)).status }).toEqual({ path, status: 404 });
    expect((await call('GET', '/v1/batches/events', undefined)).status).toBe(401);

    // Theta's list stream hears of theta's batch changing, never of eta's.
    const stream = await openEventStream(`${app.url}/v1/batches/events`, { authorization: `Bearer ${theta.key}` });
    expect(stream.response.status).toBe(200);
    expect((await call('POST', `/v1/batches/${ofEta}/pause`, eta.key, {})).status).toBe(200);
    expect((await call('POST', `/v1/batches/${ofTheta}/pause`, theta.key, {})).status).toBe(200);
    await eventually(
      () => stream.of<{ id: string; status: string }>('batch'),
      (views) => views.some((view) => view.id === ofTheta && view.status === 'paused'),
      10_000,
      "theta's paused batch on theta's stream",
    );
    await sleep(1500);
    await stream.close();
    expect(new Set(stream.of<{ id: string }>('batch').map((view) => view.id))).toEqual(new Set([ofTheta]));
  });

  it("delivers to a team's webhooks only its own team's batch events, whichever workflow they name", async () => {
    const epsilon = await createKey('epsilon', 'submitter', 'hooks-e');
    const zeta = await createKey('zeta', 'submitter', 'hooks-z');
    const receivers = { epsilon: await startWebhookReceiver(), zeta: await startWebhookReceiver() };
    try {
      const batches = {} as Record<'epsilon' | 'zeta', string>;
      for (const [team, key] of [
        ['epsilon', epsilon.key],
        ['zeta', zeta.key],
      ] as const) {
        expect((await call('POST', '/v1/workflows', key, workflow(`w-${team}`))).status).toBe(201);
        // No workflowId: the webhook asks for every batch it may see.
        const hook = await call('POST', '/v1/webhooks', key, {
          url: receivers[team].url,
          events: ['batch.started'],
          secret: `${team}-secret-0123456789`,
        });
        expect(hook.status).toBe(201);
      }
      for (const team of ['epsilon', 'zeta'] as const)
        batches[team] = (
          await call<{ id: string }>('POST', '/v1/batches', team === 'epsilon' ? epsilon.key : zeta.key, batch(`w-${team}`))
        ).body.id;
      for (const team of ['epsilon', 'zeta'] as const)
        await eventually(
          async () => receivers[team].deliveries.map((delivery) => delivery.body.batchId),
          (ids) => ids.includes(batches[team]),
          10_000,
          `${team}'s webhook to hear its batch start`,
        );
      // The other team's batch started at the same moment; give its delivery, if any, the time the own one took.
      await new Promise((done) => setTimeout(done, 500));
      expect(receivers.epsilon.deliveries.map((delivery) => delivery.body.batchId)).toEqual([batches.epsilon]);
      expect(receivers.zeta.deliveries.map((delivery) => delivery.body.batchId)).toEqual([batches.zeta]);
    } finally {
      await receivers.epsilon.stop();
      await receivers.zeta.stop();
    }
  });

  it("caps a team's batches by the limits an admin sets (422 naming the limit and its value), a CSV stopped at the first row over", async () => {
    const gamma = await createKey('gamma', 'submitter', 'limited');
    const limits = { maxItemsPerBatch: 3, maxConcurrent: 2, maxRunningBatches: 2, maxWorkflows: 1 };
    expect((await call('PUT', '/v1/teams/gamma/limits', gamma.key, limits)).status).toBe(403);
    const bad = await call<{ details: { field: string }[] }>('PUT', '/v1/teams/gamma/limits', admin, { maxConcurrent: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.details[0]?.field).toBe('maxConcurrent');
    const set = await call('PUT', '/v1/teams/gamma/limits', admin, limits);
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ team: 'gamma', ...limits, setAt: expect.any(String) });
    expect((await call('GET', '/v1/teams/gamma/limits', gamma.key)).body).toEqual(set.body);
    expect((await call('GET', '/v1/teams/alpha/limits', gamma.key)).status).toBe(404);
    expect((await call('POST', '/v1/workflows', gamma.key, workflow('w-gamma'))).status).toBe(201);
    const refusedWorkflow = await call<{ details: { field: string }[] }>('POST', '/v1/workflows', gamma.key, workflow('w-gamma-2'));
    expect({ status: refusedWorkflow.status, field: refusedWorkflow.body.details[0]?.field }).toEqual({
      status: 422,
      field: 'maxWorkflows',
    });

    const refusal = async (answer: Promise<Answer<{ message: string; details?: { field: string }[] }>>, limit: string, value: number) => {
      const { status, body } = await answer;
      expect({ status, field: body.details?.[0]?.field, message: body.message }).toEqual({
        status: 422,
        field: limit,
        message: expect.any(String),
      });
      expect(body.message).toContain(`${limit} = ${value}`);
    };
    const items = (n: number) => Array.from({ length: n }, (_, i) => ({ inputs: { n: String(i) } }));
    await refusal(call('POST', '/v1/batches', gamma.key, { ...batch('w-gamma'), items: items(4) }), 'maxItemsPerBatch', 3);
    await refusal(call('POST', '/v1/batches', gamma.key, { ...batch('w-gamma'), maxConcurrent: 3 }), 'maxConcurrent', 2);

    const form = new FormData();
    form.set('config', JSON.stringify({ name: 'csv', workflowId: 'w-gamma', maxConcurrent: 1, batchIntervalSeconds: 60 }));
    form.set('file', new Blob([`n\n${Array.from({ length: 50_000 }, (_, i) => i).join('\n')}\n`], { type: 'text/csv' }), 'rows.csv');
    const csv = await fetch(`${app.url}/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${gamma.key}` }, body: form });
    const csvBody = (await csv.json()) as { message: string; details: { field: string }[] };
    expect({ status: csv.status, field: csvBody.details[0]?.field }).toEqual({ status: 422, field: 'maxItemsPerBatch' });

    const first = await call<{ id: string }>('POST', '/v1/batches', gamma.key, batch('w-gamma'));
    expect(first.status).toBe(201);
    expect((await call('POST', '/v1/batches', gamma.key, batch('w-gamma'))).status).toBe(201);
    await refusal(call('POST', '/v1/batches', gamma.key, batch('w-gamma')), 'maxRunningBatches', 2);
    await refusal(call('PATCH', `/v1/batches/${first.body.id}`, gamma.key, { maxConcurrent: 5 }), 'maxConcurrent', 2);
    // Another team is not held by gamma's limits; a batch finished frees a place.
    expect((await call('POST', '/v1/batches', admin, { ...batch('w-gamma'), items: items(4), maxConcurrent: 3 })).status).toBe(201);
    expect((await call('POST', `/v1/batches/${first.body.id}/cancel`, gamma.key, {})).status).toBe(200);
    expect((await call('POST', '/v1/batches', gamma.key, batch('w-gamma'))).status).toBe(201);
  });

  it('refuses a revoked key within a second', async () => {
    const doomed = await createKey('alpha', 'submitter', 'doomed');
    expect((await call('GET', '/v1/batches', doomed.key)).status).toBe(200);
    const revoked = await call('DELETE', `/v1/keys/${doomed.id}`, admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: doomed.id, revokedAt: expect.any(String) });
    const revokedAt = Date.now();
    await eventually(
      async () => (await call('GET', '/v1/batches', doomed.key)).status,
      (status) => status === 401,
      1_000,
      'the revoked key to be refused',
    );
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    const listed = await call<{ keys: { id: string; revokedAt?: string }[] }>('GET', '/v1/keys', admin);
    expect(listed.body.keys.find((key) => key.id === doomed.id)?.revokedAt).toEqual(expect.any(String));
  });

  it('answers 401 to a body without a live key before reading it, and lets the callback route through to its token check', async () => {
    // Not JSON at all: had the body been parsed first, this would be a 400.
    for (const key of [undefined, 'flt_bogus']) {
      const refused = await call('POST', '/v1/batches', key, '{ not json', { 'content-type': 'application/json' });
      expect({ key, status: refused.status, scheme: refused.headers.get('www-authenticate') }).toEqual({
        key,
        status: 401,
        scheme: 'Bearer',
      });
    }
    expect((await call('POST', '/v1/batches', admin, '{ not json', { 'content-type': 'application/json' })).status).toBe(400);
    // A target's callback carries no key: its own token decides (here none, so 403 from that check, not 401).
    const callback = await call('POST', '/v1/executions/bat_00000000000000000000000000.0/result', undefined, { status: 'completed' });
    expect(callback.status).not.toBe(401);
  });

  it('answers 413 to a body over the limit, with a key as without', async () => {
    const big = JSON.stringify({ team: 'alpha', role: 'submitter', name: 'x'.repeat(100 * 1024) });
    expect((await call('POST', '/v1/keys', admin, big)).status).toBe(413);
  });

  it('limits each key to RATE_LIMIT_PER_MINUTE (429 with Retry-After) without slowing another key', async () => {
    const busy = await createKey('alpha', 'submitter', 'busy');
    const calm = await createKey('beta', 'submitter', 'calm');
    const statuses: number[] = [];
    let limited: Answer | undefined;
    for (let i = 0; i < 105 && limited === undefined; i++) {
      const answer = await call('GET', '/v1/batches', busy.key);
      statuses.push(answer.status);
      if (answer.status === 429) limited = answer;
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(100);
    expect(limited?.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call('GET', '/v1/batches', calm.key)).status).toBe(200);
  });
});
