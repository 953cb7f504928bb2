import { join } from 'node:path';
import { WorkflowRepository } from '@flotilla/application';
import { SqliteEventStore } from '@flotilla/event-store';
import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { ProductFixture, eventually, sleep, type PlatformProcess, type TargetServer } from '@flotilla/testing';

/**
 * POST /v1/workflows/{id}/hold and /release, end to end: the real product process with 4 call
 * slots, a slow loopback target that records each call (by execution id) as it arrives, and a
 * webhook receiver on loopback.
 */
describe('holding and releasing a workflow', () => {
  let product: ProductFixture;
  let app: PlatformProcess;
  let target: TargetServer;
  let receiver: NonNullable<ProductFixture['receiver']>;

  beforeEach(async () => {
    product = await ProductFixture.start({
      name: 'hold',
      // The waiting executions of a held workflow keep their messages, so they fill the dispatch window:
      // it must hold more than them, or another workflow's messages cannot reach the free slots.
      env: { EXECUTOR_CONCURRENCY: '4', EXECUTOR_QUEUE_DEPTH: '1000' },
      workflows: [{ id: 'w' }, { id: 'other' }],
      webhookEvents: ['batch.held', 'batch.released'],
    });
    ({ app, target } = product);
    receiver = product.receiver!;
    // Slow: the executor's slots fill, so triggered executions wait in it for one.
    target.respond = async () => {
      await sleep(250);
      return { status: 200, body: { ok: true } };
    };
  });

  afterEach(() => product.stop());

  const items = ProductFixture.items;
  const create = (body: Record<string, unknown>) => product.createBatch(body);
  const batch = (id: string) => product.batch<BatchView>(id);
  const history = (id: string) => product.history<HistoryEntry>(id);
  const callsOf = (id: string) => product.callsOf(id);
  const ops = { 'X-Actor': 'ops@example.com' };

  it('stops every call of the workflow across its batches; the release re-plans and runs each execution once', async () => {
    // 8 a wave each, every second: more than the workflow's 2 slots (half of 4) take, so executions queue in the executor.
    const first = await create({ maxConcurrent: 8, batchIntervalSeconds: 1, items: items(24) });
    const second = await create({ maxConcurrent: 8, batchIntervalSeconds: 1, items: items(24) });
    const unrelated = await create({ workflowId: 'other', maxConcurrent: 2, batchIntervalSeconds: 1, items: items(8) });
    await eventually(
      () => [callsOf(first), callsOf(second)],
      ([a, b]) => a! >= 2 && b! >= 2,
      15_000,
      'calls of both batches',
    );

    const held = await app.request<{ held: unknown }>('POST', '/v1/workflows/w/hold', { reason: 'target maintenance' }, ops);
    expect(held.status).toBe(200);
    expect(held.body.held).toEqual({ since: expect.any(String), reason: 'target maintenance', actor: 'ops@example.com' });
    const again = await app.request<{ code: string }>('POST', '/v1/workflows/w/hold', { reason: 'twice' });
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toContain('already held');

    for (const id of [first, second])
      await eventually(
        () => batch(id),
        (view) => view.heldBy === 'workflow',
        10_000,
        `batch ${id} held`,
      );
    expect(await batch(first)).toMatchObject({ heldBy: 'workflow', heldReason: 'target maintenance', status: 'running' });

    // A batch created while the workflow is held starts held.
    const late = await create({ maxConcurrent: 4, batchIntervalSeconds: 0, items: items(3) });
    expect(await batch(late)).toMatchObject({ heldBy: 'workflow', heldReason: 'target maintenance' });

    // Calls in flight when the hold came finish (250 ms each); after that no new call of the workflow starts.
    await sleep(1000);
    const before = [callsOf(first), callsOf(second), callsOf(late)];
    await sleep(2500);
    expect([callsOf(first), callsOf(second), callsOf(late)]).toEqual(before);
    expect(before[2]).toBe(0);
    expect(before[0]! + before[1]!).toBeLessThan(48);
    // The other workflow is not held: it goes on.
    await eventually(
      () => batch(unrelated),
      (view) => view.settledAt !== null,
      20_000,
      'the other workflow’s batch settled',
    );
    expect((await batch(unrelated)).heldBy).toBeNull();

    const released = await app.request<{ held: unknown }>('POST', '/v1/workflows/w/release', { reason: 'maintenance over' }, ops);
    expect(released.status).toBe(200);
    expect(released.body.held).toBeNull();
    expect((await app.request('POST', '/v1/workflows/w/release', { reason: 'twice' })).status).toBe(409);

    for (const id of [first, second, late])
      await eventually(
        () => batch(id),
        (view) => view.settledAt !== null,
        30_000,
        `batch ${id} settled`,
      );
    for (const [id, total] of [
      [first, 24],
      [second, 24],
      [late, 3],
    ] as const) {
      const view = await batch(id);
      expect(view).toMatchObject({ status: 'completed', heldBy: null, progress: { completed: total, failed: 0 } });
    }
    // None called twice: one call per execution id at the target.
    const perKey = new Map<string, number>();
    for (const call of target.calls) perKey.set(call.key, (perKey.get(call.key) ?? 0) + 1);
    expect([...perKey.values()].filter((count) => count > 1)).toEqual([]);
    expect(perKey.size).toBe(24 + 24 + 3 + 8);

    // History: both events with reason and actor; a running batch's release starts a new plan from then.
    const entries = await history(first);
    expect(entries.find((entry) => entry.type === 'BatchHeld')).toMatchObject({
      actor: 'ops@example.com',
      reason: 'target maintenance',
      data: { by: 'workflow' },
    });
    expect(entries.find((entry) => entry.type === 'BatchReleased')).toMatchObject({
      actor: 'ops@example.com',
      reason: 'maintenance over',
      data: { planStartsAt: expect.any(String) },
    });
    const workflowHistory = await app.request<{ items: { type: string; reason: string | null; actor: string }[] }>(
      'GET',
      '/v1/workflows/w/history',
    );
    expect(workflowHistory.body.items.map(({ type, reason, actor }) => ({ type, reason, actor }))).toEqual([
      { type: 'WorkflowVersionAdded', reason: null, actor: expect.any(String) },
      { type: 'WorkflowHeld', reason: 'target maintenance', actor: 'ops@example.com' },
      { type: 'WorkflowReleased', reason: 'maintenance over', actor: 'ops@example.com' },
    ]);
    await eventually(
      () => receiver.deliveries.filter((delivery) => delivery.body.batchId === first).map((delivery) => delivery.body.type),
      (types) => types.length === 2,
      10_000,
      'the batch.held and batch.released webhooks',
    );
  });

  it('refuses a hold without a reason (422 naming it), and of an unknown workflow (404)', async () => {
    const missing = await app.request<{ details: { field: string }[] }>('POST', '/v1/workflows/w/hold', {});
    expect(missing.status).toBe(422);
    expect(missing.body.details).toEqual([expect.objectContaining({ field: 'reason' })]);
    expect((await app.request('POST', '/v1/workflows/w/hold', { reason: '  ' })).status).toBe(422);
    expect((await app.request('POST', '/v1/workflows/nope/hold', { reason: 'x' })).status).toBe(404);
    expect((await app.request('POST', '/v1/workflows/w/release', { reason: 'x' })).status).toBe(409);
    expect((await app.request<{ held: unknown }>('GET', '/v1/workflows/w')).body.held).toBeNull();
  });

  it('holds the batches when the process died right after WorkflowHeld was appended, and releases them after a restart', async () => {
    const pending = await create({
      maxConcurrent: 3,
      batchIntervalSeconds: 0,
      startAt: new Date(Date.now() + 3_600_000).toISOString(),
      items: items(3),
    });
    const running = await create({ maxConcurrent: 1, batchIntervalSeconds: 1, items: items(30) });
    await eventually(
      () => callsOf(running),
      (count) => count >= 1,
      10_000,
      'a first call',
    );
    await app.kill();
    // What the hold route appends, with no process left to follow it up.
    const store = new SqliteEventStore(join(product.dataDir, 'events.sqlite'));
    await new WorkflowRepository(store).holdOrRelease({
      type: 'HoldWorkflow',
      workflowId: 'w',
      reason: 'appended, then the process died',
      actor: 'ops',
      now: new Date(),
    });
    await store.close();

    await app.start();
    for (const id of [pending, running])
      await eventually(
        () => batch(id),
        (view) => view.heldBy === 'workflow',
        15_000,
        `batch ${id} held after the restart`,
      );
    await sleep(1000);
    const before = callsOf(running);
    await sleep(2000);
    expect(callsOf(running)).toBe(before);
    expect(before).toBeLessThan(30);

    expect((await app.request('POST', '/v1/workflows/w/release', { reason: 'back' }, ops)).status).toBe(200);
    await eventually(
      () => batch(pending),
      (view) => view.heldBy === null,
      10_000,
      'the pending batch released',
    );
    expect(await batch(pending)).toMatchObject({ status: 'pending', heldBy: null });
    await eventually(
      () => batch(running),
      (view) => view.heldBy === null && view.status === 'running',
      10_000,
      'the running batch released',
    );
  });
});
