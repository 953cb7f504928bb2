import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { ProductFixture, eventually, sleep, type PlatformProcess, type TargetServer } from '@flotilla/testing';

/**
 * Failure tolerance and the settled signal, end to end: the real product process, a loopback target
 * that fails the inputs a test chooses (400: not retried), and a webhook receiver on loopback.
 */
describe('failure tolerance and the settled signal', () => {
  let product: ProductFixture;
  let app: PlatformProcess;
  let target: TargetServer;
  let receiver: NonNullable<ProductFixture['receiver']>;

  beforeEach(async () => {
    product = await ProductFixture.start({
      name: 'tolerance',
      workflows: [{ id: 'w', target: { timeoutMs: 2000 }, retry: { maxAttempts: 1 } }],
      webhookEvents: ['batch.paused', 'batch.settled'],
    });
    ({ app, target } = product);
    receiver = product.receiver!;
    // Inputs named `fail-*` fail for good; the others complete.
    target.respond = (call) =>
      String(call.body.inputs['n']).startsWith('fail')
        ? { status: 400, body: { error: `refused ${String(call.body.inputs['n'])}` } }
        : { status: 200, body: { ok: call.body.inputs['n'] } };
  });

  afterEach(() => product.stop());

  /** Items whose `n` is `fail-<i>` for the indexes in `failing`, `ok-<i>` otherwise. */
  const items = (total: number, failing: readonly number[]) =>
    Array.from({ length: total }, (_, i) => ({ inputs: { n: failing.includes(i) ? `fail-${i}` : `ok-${i}` } }));
  const create = (body: Record<string, unknown>) => product.createBatch(body);
  const batch = (id: string) => product.batch<BatchView>(id);
  const history = (id: string) => product.history<HistoryEntry>(id);
  const webhooks = (type: string, batchId: string) =>
    receiver.deliveries.filter((delivery) => delivery.body.type === type && delivery.body.batchId === batchId);

  it('pauses itself when more than maxFailurePercent of 10 outcomes failed, with its reason, and calls nothing more', async () => {
    // 40 items, 10 a wave every 3 s; 4 of the first wave fail: 40% > 20%, decided at the 10th outcome.
    const id = await create({ maxConcurrent: 10, batchIntervalSeconds: 3, maxFailurePercent: 20, items: items(40, [1, 3, 5, 7]) });
    const paused = await eventually(
      () => batch(id),
      (view) => view.status === 'paused',
      15_000,
      'the batch to pause itself',
    );
    expect(paused).toMatchObject({ maxFailurePercent: 20, maxFailures: null, settledAt: null });
    expect(paused.progress).toMatchObject({ triggered: 10, completed: 6, failed: 4, pending: 30 });

    const pause = (await history(id)).find((entry) => entry.type === 'BatchPaused');
    expect(pause).toMatchObject({ actor: 'system', reason: 'failure tolerance exceeded: 4 of 10 outcomes failed (max 20%)' });
    const delivered = await eventually(
      () => webhooks('batch.paused', id),
      (found) => found.length > 0,
      10_000,
      'the batch.paused webhook',
    );
    expect(delivered.map((delivery) => delivery.body.data)).toEqual([
      expect.objectContaining({ actor: 'system', reason: 'failure tolerance exceeded: 4 of 10 outcomes failed (max 20%)' }),
    ]);

    // The second wave was due 3 s after the first: past it, and more, nothing was called.
    await sleep(4000);
    expect(target.calls).toHaveLength(10);
    expect((await batch(id)).progress).toMatchObject({ triggered: 10, pending: 30 });

    // A resume lets it go on: the next wave runs (all succeed), and the batch settles.
    target.respond = () => ({ status: 200, body: { ok: true } });
    expect((await app.request('POST', `/v1/batches/${id}/resume`, { reason: 'fixed the target' })).status).toBe(200);
    const settled = await eventually(
      () => batch(id),
      (view) => view.settledAt !== null,
      20_000,
      'the resumed batch to settle',
    );
    expect(settled.progress).toMatchObject({ total: 40, triggered: 40, completed: 36, failed: 4 });
    expect((await history(id)).filter((entry) => entry.type === 'BatchPaused')).toHaveLength(1);
  }, 40_000);

  it('pauses once more than maxFailures executions failed', async () => {
    const id = await create({ maxConcurrent: 5, batchIntervalSeconds: 3, maxFailures: 1, items: items(20, [0, 2]) });
    await eventually(
      () => batch(id),
      (view) => view.status === 'paused',
      15_000,
      'the batch to pause itself',
    );
    const pause = (await history(id)).find((entry) => entry.type === 'BatchPaused');
    expect(pause).toMatchObject({ actor: 'system', reason: 'failure tolerance exceeded: 2 executions failed (max 1)' });
  });

  it('sends batch.settled once, with the exact counts, when the last outcome is in; GET shows settledAt', async () => {
    const id = await create({ maxConcurrent: 6, batchIntervalSeconds: 0, items: items(6, [1, 4]) });
    const [settled] = await eventually(
      () => webhooks('batch.settled', id),
      (found) => found.length > 0,
      15_000,
      'the batch.settled webhook',
    );
    expect(settled!.body.data).toEqual({
      batchId: id,
      total: 6,
      completed: 4,
      failed: 2,
      cancelled: 0,
      occurredAt: expect.any(String) as string,
    });
    const view = await eventually(
      () => batch(id),
      (found) => found.settledAt !== null,
      10_000,
      'settledAt',
    );
    expect(view.settledAt).toBe((settled!.body.data as { occurredAt: string }).occurredAt);
    expect(view).toMatchObject({ status: 'completed', progress: { completed: 4, failed: 2 } });
    await sleep(500);
    expect(webhooks('batch.settled', id)).toHaveLength(1);
    expect((await history(id)).filter((entry) => entry.type === 'BatchSettled')).toHaveLength(1);
  });

  it('a cancelled batch settles with its cancelled executions counted', async () => {
    const id = await create({ maxConcurrent: 3, batchIntervalSeconds: 600, items: items(10, [2]) });
    await eventually(
      () => batch(id),
      (view) => view.progress.completed + view.progress.failed === 3,
      15_000,
      'the first wave outcomes',
    );
    expect((await batch(id)).settledAt).toBeNull();
    expect((await app.request('POST', `/v1/batches/${id}/cancel`, { reason: 'enough' })).status).toBe(200);
    const [settled] = await eventually(
      () => webhooks('batch.settled', id),
      (found) => found.length > 0,
      15_000,
      'the batch.settled webhook',
    );
    expect(settled!.body.data).toMatchObject({ total: 10, completed: 2, failed: 1, cancelled: 7 });
    expect(
      await eventually(
        () => batch(id),
        (view) => view.settledAt !== null,
      ),
    ).toMatchObject({ status: 'cancelled' });
  });

  it('refuses out-of-range tolerance settings with 422 naming the field, and wrong types with 400', async () => {
    const refused = await app.request<{ statusCode: number; message: string }>('POST', '/v1/batches', {
      name: 'b',
      workflowId: 'w',
      maxConcurrent: 1,
      batchIntervalSeconds: 0,
      maxFailurePercent: 120,
      items: items(1, []),
    });
    expect(refused).toMatchObject({ status: 422, body: { statusCode: 422, message: expect.stringContaining('maxFailurePercent') } });
    const negative = await app.request<{ message: string }>('POST', '/v1/batches', {
      name: 'b',
      workflowId: 'w',
      maxConcurrent: 1,
      batchIntervalSeconds: 0,
      maxFailures: -1,
      items: items(1, []),
    });
    expect(negative).toMatchObject({ status: 422, body: { message: expect.stringContaining('maxFailures') } });
    const wrongType = await app.request<{ message: string }>('POST', '/v1/batches', {
      name: 'b',
      workflowId: 'w',
      maxConcurrent: 1,
      batchIntervalSeconds: 0,
      maxFailures: 1.5,
      items: items(1, []),
    });
    expect(wrongType).toMatchObject({ status: 400, body: { message: expect.stringContaining('maxFailures') } });
  });
});
