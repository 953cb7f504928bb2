import type { BatchView, ExecutionView, HistoryEntry } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, startWebhookReceiver, tempDir } from '@flotilla/testing';

/**
 * Recovering from failures and knowing what a batch costs, end to end: the real product process, a
 * loopback target that fails the inputs a test chooses (400: not retried) until it is "fixed", and
 * a webhook receiver on loopback.
 */
describe('re-run failed, any-JSON metadata and costs', () => {
  let data: ReturnType<typeof tempDir>;
  let target: TargetServer;
  let app: PlatformProcess;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  /** Inputs starting with "bad" fail while this is false. */
  let fixed = false;

  beforeAll(async () => {
    data = tempDir('flotilla-recovery-e2e-');
    target = new TargetServer();
    target.respond = (call) => {
      const email = String(call.body.inputs['email']);
      return email.startsWith('bad') && !fixed
        ? { status: 400, body: { error: `refused ${email}` } }
        : { status: 200, body: { ok: email } };
    };
    await target.start();
    receiver = await startWebhookReceiver();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    const workflow = await app.request('POST', '/v1/workflows', {
      id: 'crm',
      name: 'CRM',
      inputs: [{ name: 'email' }],
      target: { url: target.url, timeoutMs: 2000 },
      retry: { maxAttempts: 1 },
      cost: { perExecution: 0.25, currency: 'EUR' },
    });
    expect(workflow.status).toBe(201);
    const webhook = await app.request('POST', '/v1/webhooks', {
      url: receiver.url,
      events: ['execution.completed', 'batch.retried'],
      secret: 'receiver-secret-0123456789',
    });
    expect(webhook.status).toBe(201);
  });

  beforeEach(() => {
    fixed = false;
  });

  afterAll(async () => {
    await app.kill();
    await target.stop();
    await receiver.stop();
    data.remove();
  });

  const create = async (body: Record<string, unknown>): Promise<string> => {
    const response = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'b',
      workflowId: 'crm',
      batchIntervalSeconds: 0,
      ...body,
    });
    expect(response.status).toBe(201);
    return response.body.id;
  };
  const batch = async (id: string) => (await app.request<BatchView>('GET', `/v1/batches/${id}`)).body;
  const settled = (id: string) =>
    eventually(
      () => batch(id),
      (found) => found.settledAt !== null,
      15_000,
      `batch ${id} settled`,
    );
  const history = async (id: string) => (await app.request<{ items: HistoryEntry[] }>('GET', `/v1/batches/${id}/history`)).body.items;
  const executions = async (id: string) =>
    (await app.request<{ items: ExecutionView[] }>('GET', `/v1/batches/${id}/executions?limit=1000`)).body.items;
  const text = async (path: string) => (await fetch(`${app.url}${path}`)).text();

  describe('metadata is any JSON', () => {
    const batchMetadata = { team: 'growth', run: 7, flags: { dry: false }, owners: ['ann', 'bo'] };
    const itemMetadata = { row: 1, score: 0.5, tags: ['vip', 'eu'], nested: { deep: [1, { x: null }] }, nothing: null, team: 'override' };

    it('reaches the target, the webhooks, the read API and the exports with its JSON types', async () => {
      const id = await create({
        metadata: batchMetadata,
        maxConcurrent: 2,
        items: [{ inputs: { email: 'typed@x.io' }, metadata: itemMetadata }, { inputs: { email: 'plain@x.io' } }],
      });
      await settled(id);
      const merged = { ...batchMetadata, ...itemMetadata };
      const call = target.calls.find((found) => found.body.batchId === id && found.body.inputs['email'] === 'typed@x.io');
      expect(call?.body.metadata).toEqual(merged);
      expect(target.calls.find((found) => found.body.batchId === id && found.body.inputs['email'] === 'plain@x.io')?.body.metadata).toEqual(
        batchMetadata,
      );
      const [delivery] = await eventually(
        () => receiver.deliveries.filter((found) => found.body.batchId === id && found.body.type === 'execution.completed'),
        (found) => found.length === 2,
        10_000,
        'two execution.completed webhooks',
      );
      const typed = receiver.deliveries.find(
        (found) => found.body.batchId === id && found.body.type === 'execution.completed' && found.body.metadata['row'] === 1,
      );
      expect(delivery).toBeDefined();
      expect(typed?.body.metadata).toEqual(merged);

      expect((await batch(id)).metadata).toEqual(batchMetadata);
      expect((await executions(id))[0]?.metadata).toEqual(itemMetadata);
      const results = JSON.parse(await text(`/v1/batches/${id}/results?format=json`)) as { metadata: unknown }[];
      expect(results.map((result) => result.metadata)).toEqual([itemMetadata, {}]);
      const lines = (await text(`/v1/batches/${id}/results?format=jsonl`)).trim().split('\n');
      expect((JSON.parse(lines[0] ?? '{}') as { metadata: unknown }).metadata).toEqual(itemMetadata);
      // CSV has no types: strings as they are, numbers and booleans as written, the rest as JSON text.
      const csv = (await text(`/v1/batches/${id}/results?format=csv`)).split('\r\n');
      expect(csv[0]).toBe(
        'email,profile,metadata.row,metadata.score,metadata.tags,metadata.nested,metadata.nothing,metadata.team,status,output,error,attempts',
      );
      expect(csv[1]).toBe(
        'typed@x.io,,1,0.5,"[""vip"",""eu""]","{""deep"":[1,{""x"":null}]}",,override,completed,"{""ok"":""typed@x.io""}",,1',
      );
    });

    it('refuses item metadata over 16 KiB as JSON with 422 naming the item, and creates nothing', async () => {
      const before = (await app.request<{ items: BatchView[] }>('GET', '/v1/batches?limit=100')).body.items.length;
      const response = await app.request<{ details: { code: string; field?: string; row?: number }[] }>('POST', '/v1/batches', {
        name: 'big',
        workflowId: 'crm',
        maxConcurrent: 1,
        batchIntervalSeconds: 0,
        items: [{ inputs: { email: 'a@x.io' } }, { inputs: { email: 'b@x.io' }, metadata: { blob: 'x'.repeat(16 * 1024) } }],
      });
      expect(response.status).toBe(422);
      expect(response.body.details).toEqual([expect.objectContaining({ code: 'metadata_too_large', field: 'items[1].metadata', row: 2 })]);
      expect((await app.request<{ items: BatchView[] }>('GET', '/v1/batches?limit=100')).body.items).toHaveLength(before);
    });
  });

  describe('costs', () => {
    it('shows what a batch will cost and what it has cost so far, from the workflow version', async () => {
      const later = new Date(Date.now() + 3_600_000).toISOString();
      const id = await create({
        startAt: later,
        maxConcurrent: 5,
        items: Array.from({ length: 6 }, (_, i) => ({ inputs: { email: `c${i}@x.io` } })),
      });
      expect(await batch(id)).toMatchObject({ estimatedCost: { amount: 1.5, currency: 'EUR' }, costSoFar: { amount: 0, currency: 'EUR' } });
      const cancelled = await app.request<BatchView>('POST', `/v1/batches/${id}/cancel`, {});
      // Cancelled executions will never run: they are not in the estimate any more.
      expect(cancelled.body).toMatchObject({ estimatedCost: { amount: 0, currency: 'EUR' }, costSoFar: { amount: 0, currency: 'EUR' } });

      const ran = await create({ maxConcurrent: 3, items: Array.from({ length: 3 }, (_, i) => ({ inputs: { email: `r${i}@x.io` } })) });
      expect((await settled(ran)) as BatchView).toMatchObject({
        estimatedCost: { amount: 0.75, currency: 'EUR' },
        costSoFar: { amount: 0.75, currency: 'EUR' },
      });
    });
  });

  describe('POST /v1/batches/{id}/retry-failed', () => {
    it('re-runs exactly the failed executions of a CSV batch, in order, with their inputs, profile and metadata; both histories link', async () => {
      const mapping = { 'E-mail': { type: 'input', field: 'email' }, Tier: { type: 'profile' }, Note: { type: 'metadata', key: 'note' } };
      const form = new FormData();
      form.append('config', JSON.stringify({ name: 'Import', workflowId: 'crm', maxConcurrent: 10, batchIntervalSeconds: 0, mapping }));
      const csv = 'Note,E-mail,Tier\nn0,ok0@x.io,gold\nn1,bad1@x.io,silver\nn2,ok2@x.io,gold\nn3,bad3@x.io,gold\nn4,bad4@x.io,bronze\n';
      form.append('file', new Blob([csv], { type: 'text/csv' }), 'rows.csv');
      const parent = await app.request<{ id: string }>('POST', '/v1/batches', form);
      expect(parent.status).toBe(201);
      expect((await settled(parent.body.id)).progress).toMatchObject({ completed: 2, failed: 3 });

      fixed = true;
      const retry = await app.request<{ id: string; status: string; total: number; parentBatchId: string }>(
        'POST',
        `/v1/batches/${parent.body.id}/retry-failed`,
        { reason: 'target fixed', maxConcurrent: 2 },
        { 'x-actor': 'ops@example.com' },
      );
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual({
        id: expect.stringMatching(/^bat_/) as string,
        status: 'running',
        total: 3,
        parentBatchId: parent.body.id,
      });
      const child = retry.body.id;

      const done = await settled(child);
      expect(done).toMatchObject({
        parentBatchId: parent.body.id,
        retries: [],
        name: 'Import',
        maxConcurrent: 2,
        progress: { completed: 3, failed: 0 },
      });
      expect(await batch(parent.body.id)).toMatchObject({ retries: [child], parentBatchId: null, progress: { completed: 2, failed: 3 } });
      expect((await executions(child)).map((execution) => [execution.inputs, execution.profile, execution.metadata])).toEqual([
        [{ email: 'bad1@x.io' }, 'silver', { note: 'n1' }],
        [{ email: 'bad3@x.io' }, 'gold', { note: 'n3' }],
        [{ email: 'bad4@x.io' }, 'bronze', { note: 'n4' }],
      ]);
      // The retry's export answers under the parent's CSV headers.
      expect((await text(`/v1/batches/${child}/results?format=csv`)).split('\r\n')[0]).toBe(
        'Note,E-mail,Tier,status,output,error,attempts',
      );

      const linked = (await history(parent.body.id)).find((entry) => entry.type === 'BatchRetried');
      expect(linked).toMatchObject({ actor: 'ops@example.com', reason: 'target fixed', data: { retryBatchId: child, executions: 3 } });
      const createdEntry = (await history(child)).find((entry) => entry.type === 'BatchCreated');
      expect(createdEntry).toMatchObject({ actor: 'ops@example.com', reason: 'target fixed', data: { parentBatchId: parent.body.id } });
      const hook = await eventually(
        () => receiver.deliveries.find((found) => found.body.type === 'batch.retried' && found.body.batchId === parent.body.id),
        (found) => found !== undefined,
        10_000,
        'the batch.retried webhook',
      );
      expect(hook?.body.data).toMatchObject({ retryBatchId: child, executions: 3 });
    });

    it('takes the failures so far of a running batch', async () => {
      // Two waves an hour apart: the first has its outcomes, the second waits.
      const id = await create({
        maxConcurrent: 2,
        batchIntervalSeconds: 3600,
        items: ['ok0@x.io', 'bad1@x.io', 'bad2@x.io', 'ok3@x.io'].map((email) => ({ inputs: { email } })),
      });
      await eventually(
        () => batch(id),
        (found) => found.progress.failed === 1 && found.progress.completed === 1,
        10_000,
        'the first wave',
      );
      const retry = await app.request<{ id: string; total: number }>('POST', `/v1/batches/${id}/retry-failed`, {});
      expect(retry).toMatchObject({ status: 201, body: { total: 1 } });
      expect((await executions(retry.body.id)).map((execution) => execution.inputs)).toEqual([{ email: 'bad1@x.io' }]);
      expect((await batch(id)).status).toBe('running');
      await app.request('POST', `/v1/batches/${id}/cancel`, {});
    });

    it('re-runs on a newer workflow version, checking each item against it', async () => {
      // A workflow of its own: the versions added here would change what the other tests' batches run on.
      const v1 = await app.request('POST', '/v1/workflows', {
        id: 'versioned',
        name: 'Versioned',
        inputs: [{ name: 'email' }],
        target: { url: target.url, timeoutMs: 2000 },
        retry: { maxAttempts: 1 },
      });
      expect(v1.status).toBe(201);
      const id = await create({
        workflowId: 'versioned',
        maxConcurrent: 3,
        items: ['bad0@x.io', 'ok1@x.io', 'bad2@x.io'].map((email) => ({ inputs: { email } })),
      });
      await settled(id);
      const v2 = await app.request('POST', '/v1/workflows/versioned/versions', {
        name: 'CRM v2',
        inputs: [{ name: 'email' }, { name: 'region', required: false }],
        target: { url: target.url, timeoutMs: 2000 },
        retry: { maxAttempts: 1 },
      });
      expect(v2.status).toBe(201);
      const retry = await app.request<{ id: string }>('POST', `/v1/batches/${id}/retry-failed`, { workflowVersion: 2 });
      expect(retry.status).toBe(201);
      expect(await batch(retry.body.id)).toMatchObject({ workflowVersion: 2, progress: { total: 2 } });

      const v3 = await app.request('POST', '/v1/workflows/versioned/versions', {
        name: 'CRM v3',
        inputs: [{ name: 'email' }, { name: 'region', required: true }],
        target: { url: target.url, timeoutMs: 2000 },
        retry: { maxAttempts: 1 },
      });
      expect(v3.status).toBe(201);
      const refused = await app.request<{ message: string; details: { code: string; row: number; field: string }[] }>(
        'POST',
        `/v1/batches/${id}/retry-failed`,
        { workflowVersion: 3 },
      );
      expect(refused.status).toBe(422);
      expect(refused.body.message).toBe('2 of 2 failed executions are invalid; nothing was created');
      expect(refused.body.details.map((problem) => [problem.code, problem.row, problem.field])).toEqual([
        ['required_input_empty', 1, 'inputs.region'],
        ['required_input_empty', 3, 'inputs.region'],
      ]);
      expect((await batch(id)).retries).toHaveLength(1);
    });

    it('refuses a batch with no failed execution (422 naming it), an unknown batch (404) and bad settings (422 naming the field)', async () => {
      const clean = await create({ maxConcurrent: 1, items: [{ inputs: { email: 'ok@x.io' } }] });
      await settled(clean);
      const none = await app.request<{ message: string; details: { code: string }[] }>('POST', `/v1/batches/${clean}/retry-failed`, {});
      expect(none.status).toBe(422);
      expect(none.body.message).toBe(`batch ${clean} has no failed execution to retry`);
      expect(none.body.details[0]?.code).toBe('no_failed_executions');
      expect((await app.request('POST', '/v1/batches/bat_nope/retry-failed', {})).status).toBe(404);

      const failing = await create({ maxConcurrent: 1, items: [{ inputs: { email: 'bad@x.io' } }] });
      await settled(failing);
      const zero = await app.request<{ details: { field: string }[] }>('POST', `/v1/batches/${failing}/retry-failed`, { maxConcurrent: 0 });
      expect(zero.status).toBe(422);
      expect(zero.body.details.map((problem) => problem.field)).toEqual(['maxConcurrent']);
      expect((await app.request('POST', `/v1/batches/${failing}/retry-failed`, { maxConcurrent: 'two' })).status).toBe(400);
      expect((await app.request('POST', `/v1/batches/${failing}/retry-failed`, { workflowVersion: 99 })).status).toBe(404);
      expect((await batch(failing)).retries).toEqual([]);
    });
  });
});
