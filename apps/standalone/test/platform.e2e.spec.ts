import type { BatchView, ExecutionView, HistoryEntry } from '@flotilla/projections';
import {
  PlatformProcess,
  TargetServer,
  eventually,
  freePort,
  sleep,
  startWebhookReceiver,
  tempDir,
  verifySignatureHeader,
} from '@flotilla/testing';

/**
 * The product as a user meets it: one process started with its data directory, a workflow target
 * and a webhook receiver on loopback, everything driven over REST.
 */
describe('flotilla, embedded, over REST', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;

  beforeEach(async () => {
    data = tempDir('flotilla-e2e-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
  });

  afterEach(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  const registerWorkflow = async (id = 'enrich', extra: Record<string, unknown> = {}) => {
    const response = await app.request('POST', '/v1/workflows', {
      id,
      name: 'Enrich lead',
      inputs: [{ name: 'email' }, { name: 'first_name', required: false }],
      target: { url: target.url, timeoutMs: 2000 },
      retry: { maxAttempts: 3, backoffMs: 50 },
      ...extra,
    });
    expect(response.status).toBe(201);
    return response.body as { id: string; version: number };
  };

  const items = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ inputs: { email: `user${i}@example.com` }, metadata: { row: String(i) } }));

  const batch = async (id: string) => (await app.request<BatchView>('GET', `/v1/batches/${id}`)).body;
  const executions = async (id: string, query = '') =>
    (await app.request<{ items: ExecutionView[] }>('GET', `/v1/batches/${id}/executions?limit=1000${query}`)).body.items;
  const history = async (id: string) => (await app.request<{ items: HistoryEntry[] }>('GET', `/v1/batches/${id}/history`)).body.items;

  it('registers workflows with versions', async () => {
    expect(await registerWorkflow()).toMatchObject({ id: 'enrich', version: 1 });
    const second = await app.request('POST', '/v1/workflows/enrich/versions', {
      name: 'Enrich v2',
      inputs: [{ name: 'email' }],
      target: { url: target.url },
    });
    expect(second).toMatchObject({
      status: 201,
      body: { id: 'enrich', version: 2, name: 'Enrich v2', target: { mode: 'sync', timeoutMs: 30000 }, retry: { maxAttempts: 3 } },
    });
    const workflow = await app.request('GET', '/v1/workflows/enrich');
    expect(workflow.body).toMatchObject({ version: 2, versions: [{ version: 1 }, { version: 2 }] });
    expect((await app.request('POST', '/v1/workflows', { id: 'enrich', name: 'x', inputs: [], target: { url: target.url } })).status).toBe(
      409,
    );
    expect((await app.request('GET', '/v1/workflows/nope')).status).toBe(404);
  });

  it('runs a JSON batch in waves at the formula times, with progress, executions, outcomes and history', async () => {
    await registerWorkflow();
    const created = await app.request<{ id: string; status: string; total: number }>(
      'POST',
      '/v1/batches',
      {
        name: 'waves',
        workflowId: 'enrich',
        maxConcurrent: 2,
        batchIntervalSeconds: 1,
        metadata: { team: 'growth' },
        profilePool: ['p1', 'p2'],
        items: items(6),
      },
      { 'x-actor': 'alice' },
    );
    expect(created).toMatchObject({ status: 201, body: { status: 'running', total: 6 } });
    const id = created.body.id;

    const done = await eventually(
      () => batch(id),
      (view) => view.progress.completed === 6,
      15_000,
      'all 6 completed',
    );
    expect(done).toMatchObject({
      status: 'completed',
      workflowId: 'enrich',
      workflowVersion: 1,
      maxConcurrent: 2,
      metadata: { team: 'growth' },
    });
    expect(done.progress).toEqual({ total: 6, pending: 0, triggered: 6, cancelled: 0, completed: 6, failed: 0, percent: 100 });

    const list = await executions(id);
    expect(list.map((execution) => execution.index)).toEqual([0, 1, 2, 3, 4, 5]);
    const start = Date.parse(done.startAt);
    for (const execution of list) {
      expect(Date.parse(execution.executeAt!)).toBe(start + Math.floor(execution.index / 2) * 1000);
      // Triggered at the wave's time, within a tolerance.
      const lateness = Date.parse(execution.triggeredAt!) - Date.parse(execution.executeAt!);
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(500);
      expect(execution.outcome).toMatchObject({ status: 'completed', output: { ok: true } });
    }
    // Profiles come from the pool in turn; the call carries everything the target needs.
    expect(list.map((execution) => execution.profile)).toEqual(['p1', 'p2', 'p1', 'p2', 'p1', 'p2']);
    const call = target.calls.find((each) => each.key === `${id}.3`);
    expect(call?.body).toMatchObject({
      executionId: `${id}.3`,
      batchId: id,
      inputs: { email: 'user3@example.com' },
      profile: 'p2',
      attempt: 1,
      metadata: { team: 'growth', row: '3' },
    });
    const gaps = [0, 2, 4].map((i) => (target.calls.find((each) => each.key === `${id}.${i}`)?.at ?? 0) - start);
    expect(gaps[1]! - gaps[0]!).toBeGreaterThan(700);
    expect(gaps[2]! - gaps[1]!).toBeGreaterThan(700);

    const types = (await history(id)).map((entry) => entry.type);
    expect(types[0]).toBe('BatchCreated');
    expect(types.filter((type) => type === 'ExecutionTriggered')).toHaveLength(6);
    expect(types.filter((type) => type === 'WaveDue')).toHaveLength(3);
    expect(types.at(-1) === 'BatchCompleted' || types.includes('BatchCompleted')).toBe(true);
    expect((await history(id))[0]).toMatchObject({ actor: 'alice' });

    const listed = await app.request<{ items: BatchView[] }>('GET', '/v1/batches?workflowId=enrich&status=completed');
    expect(listed.body.items.map((each) => each.id)).toEqual([id]);
  });

  it('pause stops triggers at once; resume re-plans the rest from now; cancel is final', async () => {
    await registerWorkflow();
    const { body } = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'p',
      workflowId: 'enrich',
      maxConcurrent: 2,
      batchIntervalSeconds: 1,
      items: items(8),
    });
    const id = body.id;
    await eventually(
      () => batch(id),
      (view) => view.progress.triggered >= 2,
      5000,
      'first wave',
    );
    const paused = await app.request<BatchView>('POST', `/v1/batches/${id}/pause`, { reason: 'target maintenance' });
    expect(paused).toMatchObject({ status: 200, body: { status: 'paused', estimatedCompletionAt: null } });
    const countAtPause = paused.body.progress.triggered;
    // Executions triggered before the pause still run (their calls may arrive a little later); no other may.
    const triggeredAtPause = new Set(
      (await executions(id)).filter((execution) => execution.status === 'triggered').map((execution) => execution.id),
    );
    expect(triggeredAtPause.size).toBe(countAtPause);
    await sleep(2500);
    expect((await batch(id)).progress.triggered).toBe(countAtPause);
    expect([...target.keys()].filter((key) => !triggeredAtPause.has(key))).toEqual([]);
    expect((await app.request('POST', `/v1/batches/${id}/pause`, {})).status).toBe(409);

    const beforeResume = Date.now();
    const resumed = await app.request<BatchView>('POST', `/v1/batches/${id}/resume`, {});
    const afterResume = Date.now();
    expect(resumed.body.status).toBe('running');
    // Every execution still pending at the pause is re-planned from the resume time, in input order,
    // with the wave formula; the first of them may already be triggered when we look.
    const resumedAt = Date.parse((await history(id)).find((entry) => entry.type === 'BatchResumed')!.occurredAt);
    expect(resumedAt).toBeGreaterThanOrEqual(beforeResume);
    expect(resumedAt).toBeLessThanOrEqual(afterResume);
    const replanned = (await executions(id)).filter((execution) => !triggeredAtPause.has(execution.id));
    expect(replanned).toHaveLength(8 - countAtPause);
    replanned.forEach((execution, rank) => {
      expect([execution.index, Date.parse(execution.executeAt!)]).toEqual([execution.index, resumedAt + Math.floor(rank / 2) * 1000]);
    });
    await eventually(
      () => batch(id),
      (view) => view.progress.triggered >= countAtPause + 2,
      5000,
      'a wave after resume',
    );

    const cancelled = await app.request<BatchView>('POST', `/v1/batches/${id}/cancel`, { reason: 'enough' }, { 'x-actor': 'bob' });
    expect(cancelled.body.status).toBe('cancelled');
    const final = cancelled.body.progress;
    expect(final.pending).toBe(0);
    expect(final.cancelled + final.triggered).toBe(8);
    const triggeredAtCancel = new Set(
      (await executions(id)).filter((execution) => execution.status === 'triggered').map((execution) => execution.id),
    );
    expect(triggeredAtCancel.size).toBe(final.triggered);
    await sleep(2500);
    expect((await batch(id)).progress).toMatchObject({ triggered: final.triggered, cancelled: final.cancelled });
    expect([...target.keys()].filter((key) => !triggeredAtCancel.has(key))).toEqual([]);
    for (const action of ['pause', 'resume', 'cancel']) {
      const refused = await app.request<{ statusCode: number; message: string }>('POST', `/v1/batches/${id}/${action}`, {});
      expect(refused.status).toBe(409);
      expect(refused.body.message).toContain('it is cancelled');
    }
    const audit = await history(id);
    expect(audit.find((entry) => entry.type === 'BatchPaused')).toMatchObject({ reason: 'target maintenance', actor: 'api' });
    expect(audit.find((entry) => entry.type === 'BatchCancelled')).toMatchObject({ reason: 'enough', actor: 'bob' });
  });

  it('cancels and reschedules single executions; 409 unless pending, 404 when unknown', async () => {
    await registerWorkflow();
    const startAt = new Date(Date.now() + 60_000).toISOString();
    const { body } = await app.request<{ id: string; status: string }>('POST', '/v1/batches', {
      name: 'future',
      workflowId: 'enrich',
      startAt,
      maxConcurrent: 1,
      batchIntervalSeconds: 10,
      items: items(3),
    });
    expect(body.status).toBe('pending');
    const id = body.id;
    expect((await app.request<ExecutionView>('POST', `/v1/executions/${id}.1/cancel`, {})).body.status).toBe('cancelled');
    expect((await app.request('POST', `/v1/executions/${id}.1/cancel`, {})).status).toBe(409);
    const soon = new Date(Date.now() + 300).toISOString();
    const moved = await app.request<ExecutionView>('POST', `/v1/executions/${id}.2/reschedule`, { executeAt: soon });
    expect(moved.body.executeAt).toBe(soon);
    expect((await app.request('POST', `/v1/executions/${id}.9/cancel`, {})).status).toBe(404);
    expect((await app.request('POST', `/v1/executions/nope.1/cancel`, {})).status).toBe(404);
    expect((await app.request('POST', `/v1/executions/${id}.2/reschedule`, { executeAt: 'soon' })).status).toBe(400);
    const view = await batch(id);
    expect(view.progress).toMatchObject({ total: 3, pending: 2, cancelled: 1 });
    expect(view.estimatedCompletionAt).toBe(new Date(Date.parse(startAt)).toISOString());
  });

  it('retries 503, and 429 honouring Retry-After without recording it as a failed attempt, then completes; fails at once on 400', async () => {
    await registerWorkflow();
    target.respond = (call, count) => {
      const email = String(call.body.inputs['email']);
      if (email.startsWith('user0') && count <= 2) return { status: 503 };
      if (email.startsWith('user1') && count === 1) return { status: 429, headers: { 'retry-after': '1' } };
      if (email.startsWith('user2')) return { status: 400, body: { error: 'bad email' } };
      return { status: 200, body: { ok: email } };
    };
    const { body } = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'r',
      workflowId: 'enrich',
      maxConcurrent: 10,
      batchIntervalSeconds: 0,
      items: items(3),
    });
    const id = body.id;
    await eventually(
      () => batch(id),
      (view) => view.progress.completed + view.progress.failed === 3,
      15_000,
      'outcomes',
    );
    const list = await executions(id);
    expect(list[0]).toMatchObject({ attempts: 3, outcome: { status: 'completed', output: { ok: 'user0@example.com' } } });
    expect(list[1]).toMatchObject({ attempts: 2, outcome: { status: 'completed' } });
    expect(list[2]).toMatchObject({ attempts: 1, outcome: { status: 'failed', statusCode: 400 } });
    const calls429 = target.calls.filter((call) => call.key === `${id}.1`);
    expect(calls429[1]!.at - calls429[0]!.at).toBeGreaterThanOrEqual(950);
    // The two 503s of user0; the 429 is no failed attempt: the batch records one throttle episode instead.
    const entries = await history(id);
    expect(
      entries.filter((entry) => entry.type === 'ExecutionAttemptFailed').map((entry) => (entry.data as { statusCode?: number }).statusCode),
    ).toEqual([503, 503]);
    expect(entries.filter((entry) => entry.type.startsWith('BatchThrottle')).map((entry) => entry.type)).toEqual([
      'BatchThrottled',
      'BatchThrottleLifted',
    ]);
    expect((await batch(id)).throttledUntil).toBeNull();
  });

  it('async targets: accepted with 202, outcome on the callback, failed when the callback never comes', async () => {
    await registerWorkflow('slow', { target: { url: target.url, mode: 'async', timeoutMs: 1500, callbackTimeoutMs: 1500 } });
    target.respond = () => ({ status: 202, body: { accepted: true } });
    const { body } = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'a',
      workflowId: 'slow',
      maxConcurrent: 5,
      batchIntervalSeconds: 0,
      items: items(2),
    });
    const id = body.id;
    await eventually(
      () => executions(id),
      (list) => list.every((execution) => execution.status === 'triggered'),
      5000,
      'both triggered',
    );
    await eventually(
      () => history(id),
      (entries) => entries.filter((entry) => entry.type === 'ExecutionAccepted').length === 2,
      5000,
      'both accepted',
    );
    const call = target.calls.find((each) => each.body.executionId === `${id}.0`);
    expect(call?.body).toMatchObject({ callbackUrl: `${app.url}/v1/executions/${id}.0/result` });
    const callbackToken = call!.body.callbackToken;
    const result = await app.request<ExecutionView>('POST', `/v1/executions/${id}.0/result`, {
      status: 'completed',
      output: { score: 7 },
      callbackToken,
    });
    expect(result).toMatchObject({ status: 200, body: { outcome: { status: 'completed', output: { score: 7 } } } });
    expect((await app.request('POST', `/v1/executions/${id}.0/result`, { status: 'failed', error: 'late', callbackToken })).status).toBe(
      409,
    );
    const timedOut = await eventually(
      () => executions(id),
      (list) => list[1]?.outcome !== null,
      10_000,
      'the deadline',
    );
    expect(timedOut[1]?.outcome).toMatchObject({
      status: 'failed',
      error: 'No result arrived on the callback before the workflow timeout',
    });
    expect((await batch(id)).progress).toMatchObject({ completed: 1, failed: 1 });
  });

  it('delivers signed webhooks, retrying failures and recording every attempt', async () => {
    await registerWorkflow();
    const receiver = await startWebhookReceiver();
    try {
      const secret = 'a-very-secret-value';
      receiver.fail.count = 1;
      const hook = await app.request<{ id: string }>('POST', '/v1/webhooks', {
        url: receiver.url,
        events: ['execution.completed', 'batch.completed'],
        secret,
      });
      expect(hook.status).toBe(201);
      expect(hook.body).not.toHaveProperty('secret');
      const { body } = await app.request<{ id: string }>('POST', '/v1/batches', {
        name: 'w',
        workflowId: 'enrich',
        maxConcurrent: 5,
        batchIntervalSeconds: 0,
        metadata: { team: 'x' },
        items: items(2),
      });
      const received = await eventually(
        async () => receiver.deliveries,
        (all) => all.length >= 3,
        20_000,
        '3 webhooks',
      );
      for (const delivery of received)
        expect(verifySignatureHeader(secret, delivery.headers['x-signature'] ?? '', delivery.raw)).toBe(true);
      expect(verifySignatureHeader('wrong-secret', received[0]!.headers['x-signature'] ?? '', received[0]!.raw)).toBe(false);
      const completed = received.filter((delivery) => delivery.body.type === 'execution.completed');
      expect(completed.map((delivery) => delivery.body.executionId).sort()).toEqual([`${body.id}.0`, `${body.id}.1`]);
      expect(completed[0]?.body).toMatchObject({ batchId: body.id, metadata: { team: 'x' } });
      expect(received.some((delivery) => delivery.body.type === 'batch.completed')).toBe(true);
      const attempts = await app.request<{ items: { statusCode: number; delivered: boolean }[] }>(
        'GET',
        `/v1/webhooks/${hook.body.id}/deliveries`,
      );
      expect(attempts.body.items.some((attempt) => attempt.statusCode === 500 && !attempt.delivered)).toBe(true);
      expect(attempts.body.items.filter((attempt) => attempt.delivered)).toHaveLength(3);
    } finally {
      await receiver.stop();
    }
  });

  it('serves its OpenAPI description', async () => {
    const spec = await app.request<{ paths: Record<string, unknown> }>('GET', '/docs-json');
    expect(spec.status).toBe(200);
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining(['/v1/batches', '/v1/batches/{id}/pause', '/v1/workflows', '/v1/webhooks']),
    );
    expect((await fetch(`${app.url}/docs`)).status).toBe(200);
  });
});
