import type { BatchView, ExecutionView, HistoryEntry } from '@flotilla/projections';
import { ProductFixture, eventually, type PlatformProcess, type TargetServer } from '@flotilla/testing';

/**
 * PATCH /v1/batches/{id}, end to end: the real product process, a loopback target that records when
 * each call arrives, and a webhook receiver on loopback.
 */
describe('PATCH /v1/batches/{id}: change a batch', () => {
  let product: ProductFixture;
  let app: PlatformProcess;
  let target: TargetServer;
  let receiver: NonNullable<ProductFixture['receiver']>;

  beforeEach(async () => {
    product = await ProductFixture.start({ name: 'reconfigure', webhookEvents: ['batch.reconfigured'] });
    ({ app, target } = product);
    receiver = product.receiver!;
  });

  afterEach(() => product.stop());

  const items = ProductFixture.items;
  const create = (body: Record<string, unknown>) => product.createBatch(body);
  const batch = (id: string) => product.batch<BatchView>(id);
  const history = (id: string) => product.history<HistoryEntry>(id);
  const executions = (id: string) => product.executions<ExecutionView>(id);
  const patch = <T = BatchView>(id: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request<T>('PATCH', `/v1/batches/${id}`, body, headers);
  const callAt = (id: string, index: number): number | undefined => target.calls.find((call) => call.key === `${id}.${index}`)?.at;

  it('re-plans a running batch from now at the wave formula times; history, webhook and 409 once it is completed', async () => {
    // 12 items, 2 a wave every 3 s: without the change it would take 15 s.
    const id = await create({ maxConcurrent: 2, batchIntervalSeconds: 3, items: items(12) });
    await eventually(
      () => target.calls.length,
      (count) => count >= 2,
      10_000,
      'the first wave',
    );

    const patched = await patch(id, { maxConcurrent: 4, batchIntervalSeconds: 1, reason: 'the target has room' }, { 'X-Actor': 'alice' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id,
      status: 'running',
      maxConcurrent: 4,
      batchIntervalSeconds: 1,
      priority: 50,
      catchUp: 'paced',
    });

    const reconfigured = (await history(id)).find((entry) => entry.type === 'BatchReconfigured');
    expect(reconfigured).toMatchObject({
      actor: 'alice',
      reason: 'the target has room',
      data: {
        changes: { maxConcurrent: { from: 2, to: 4 }, batchIntervalSeconds: { from: 3, to: 1 } },
        plan: 1,
        pending: 10,
      },
    });
    const data = reconfigured!.data as { planStartsAt: string; planEndsAt: string };
    const anchor = Date.parse(data.planStartsAt);
    expect(data.planStartsAt).toBe(reconfigured!.occurredAt);
    // 10 pending, 4 a wave, 1 s apart: the last due 2 s after the change; the answer says so.
    expect(data.planEndsAt).toBe(new Date(anchor + 2000).toISOString());
    expect(patched.body.estimatedCompletionAt).toBe(data.planEndsAt);

    const done = await eventually(
      () => batch(id),
      (view) => view.progress.completed === 12,
      15_000,
      'every execution completed',
    );
    expect(done.status).toBe('completed');
    // The pending executions, in their original order, at anchor + floor(rank / 4) * 1 s: the list says so, the target saw it (±500 ms).
    const listed = await executions(id);
    for (let index = 2; index < 12; index++) {
      const expected = anchor + Math.floor((index - 2) / 4) * 1000;
      expect([index, listed[index]!.executeAt]).toEqual([index, new Date(expected).toISOString()]);
      const lateness = callAt(id, index)! - expected;
      expect([index, lateness >= -500 && lateness <= 500]).toEqual([index, true]);
    }
    // The first wave kept its time (the batch started before the change).
    expect(Date.parse(listed[0]!.executeAt!)).toBeLessThan(anchor);

    const [delivered] = await eventually(
      () => receiver.deliveries.filter((delivery) => delivery.body.type === 'batch.reconfigured' && delivery.body.batchId === id),
      (found) => found.length > 0,
      10_000,
      'the batch.reconfigured webhook',
    );
    expect(delivered!.body.data).toMatchObject({
      changes: { maxConcurrent: { from: 2, to: 4 }, batchIntervalSeconds: { from: 3, to: 1 } },
      actor: 'alice',
      reason: 'the target has room',
    });

    const refused = await patch<{ statusCode: number; message: string }>(id, { priority: 10 });
    expect(refused).toMatchObject({ status: 409, body: { statusCode: 409, message: `Cannot reconfigure batch ${id}: it is completed` } });
  }, 40_000);

  it('refuses bad settings with 422 naming the field, a body without a setting with 422, and wrong shapes with 400', async () => {
    const id = await create({ maxConcurrent: 2, batchIntervalSeconds: 60, items: items(6) });
    const zero = await patch<{ message: string; details: { field: string }[] }>(id, { maxConcurrent: 0 });
    expect(zero).toMatchObject({
      status: 422,
      body: { message: 'maxConcurrent must be an integer from 1 to 10000', details: [{ field: 'maxConcurrent', code: 'invalid_setting' }] },
    });
    expect((await patch<{ details: { field: string }[] }>(id, { priority: 0 })).body.details).toEqual([
      expect.objectContaining({ field: 'priority' }),
    ]);
    expect((await patch(id, { reason: 'nothing to change' })).status).toBe(422);
    expect((await patch(id, { maxConcurrent: null })).status).toBe(400);
    expect((await patch(id, { maxConcurrent: '4' })).status).toBe(400);
    expect((await patch(id, { name: 'renamed' })).status).toBe(400);
    expect((await patch(id, { catchUp: 'burst' })).status).toBe(400);
    expect((await app.request('PATCH', '/v1/batches/bat_nope', { priority: 3 })).status).toBe(404);
    // Nothing was recorded by the refusals.
    expect((await history(id)).filter((entry) => entry.type === 'BatchReconfigured')).toEqual([]);
  });

  it('recomputes a pending batch from its start time; a paused one keeps its figures for the resume; thresholds can be removed', async () => {
    const startAt = new Date(Date.now() + 3_600_000);
    startAt.setMilliseconds(0);
    const pending = await create({ startAt: startAt.toISOString(), maxConcurrent: 2, batchIntervalSeconds: 60, items: items(6) });
    const changed = await patch(pending, { maxConcurrent: 3, batchIntervalSeconds: 10, maxFailures: 2 });
    expect(changed.body).toMatchObject({ status: 'pending', maxConcurrent: 3, batchIntervalSeconds: 10, maxFailures: 2 });
    expect(changed.body.estimatedCompletionAt).toBe(new Date(startAt.getTime() + 10_000).toISOString());
    expect((await executions(pending)).map((execution) => execution.executeAt)).toEqual(
      [0, 0, 0, 10, 10, 10].map((seconds) => new Date(startAt.getTime() + seconds * 1000).toISOString()),
    );
    expect((await patch(pending, { maxFailures: null })).body.maxFailures).toBeNull();

    const running = await create({ maxConcurrent: 1, batchIntervalSeconds: 600, items: items(4) });
    await eventually(
      () => batch(running),
      (view) => view.progress.completed === 1,
      10_000,
      'the first wave',
    );
    expect((await app.request('POST', `/v1/batches/${running}/pause`, {})).status).toBe(200);
    const paused = await patch(running, { maxConcurrent: 3, batchIntervalSeconds: 0 });
    expect(paused.body).toMatchObject({ status: 'paused', maxConcurrent: 3, batchIntervalSeconds: 0, estimatedCompletionAt: null });
    const resumed = await app.request<BatchView>('POST', `/v1/batches/${running}/resume`, {});
    expect(resumed.status).toBe(200);
    // The resume plans the 3 pending with the new figures: all at once.
    const done = await eventually(
      () => batch(running),
      (view) => view.progress.completed === 4,
      10_000,
      'the resumed batch',
    );
    expect(done.status).toBe('completed');
  });
});
