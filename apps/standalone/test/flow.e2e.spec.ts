import type { BatchView, ExecutionView, HistoryEntry } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, sleep, tempDir, type TargetCall } from '@flotilla/testing';

/**
 * Flow control in the executor, with 4 call slots and a slow target: the executor's queue orders
 * waiting executions by priority, then in turns between batches, and holds each workflow to its
 * maxInFlight and maxPerSecond. A restart rebuilds the queue from the unacknowledged messages.
 */
describe('flow control in the executor', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  const targets: TargetServer[] = [];
  /** Every call of every target here, in arrival order: the 4 slots are shared by all of them. */
  const open = { now: 0, max: 0 };

  const slowTarget = async (ms: number): Promise<TargetServer> => {
    const target = new TargetServer();
    target.respond = async () => {
      open.max = Math.max(open.max, ++open.now);
      await sleep(ms);
      open.now--;
      return { status: 200, body: { ok: true } };
    };
    await target.start();
    targets.push(target);
    return target;
  };

  const register = async (id: string, url: string, limits?: Record<string, number>): Promise<void> => {
    const response = await app.request('POST', '/v1/workflows', {
      id,
      name: id,
      inputs: [{ name: 'n' }],
      target: { url },
      ...(limits === undefined ? {} : { limits }),
    });
    expect(response.status).toBe(201);
  };

  /** A batch whose executions are all triggered at once, so they all wait in the executor's queue. */
  const submit = async (workflowId: string, size: number, priority?: number): Promise<string> => {
    const response = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: `${workflowId}-${size}`,
      workflowId,
      maxConcurrent: size,
      batchIntervalSeconds: 0,
      ...(priority === undefined ? {} : { priority }),
      items: Array.from({ length: size }, (_, n) => ({ inputs: { n: String(n) } })),
    });
    expect(response.status).toBe(201);
    return response.body.id;
  };

  const settled = (id: string, timeoutMs = 60_000): Promise<BatchView> =>
    eventually(
      () => app.request<BatchView>('GET', `/v1/batches/${id}`).then((response) => response.body),
      // status "completed" says every execution was triggered; settled is every one with an outcome.
      (view) => view.progress.completed + view.progress.failed === view.progress.total,
      timeoutMs,
      `batch ${id} settled`,
    );

  const ofBatch = (calls: readonly TargetCall[], id: string): number[] =>
    calls.flatMap((call, at) => (call.body.batchId === id ? [at] : []));

  describe('on one process', () => {
    beforeAll(async () => {
      data = tempDir('flotilla-flow-');
      app = new PlatformProcess(await freePort(), data.path, { EXECUTOR_CONCURRENCY: '4' });
      await app.start();
    });
    afterAll(async () => {
      await app.kill();
      await Promise.all(targets.splice(0).map((target) => target.stop()));
      data.remove();
    });
    afterEach(() => {
      // The executor's global limit, over every test of this process.
      expect(open.max).toBeLessThanOrEqual(4);
    });

    it('a small batch submitted after a big one finishes long before it, and never more than 4 calls are in flight', async () => {
      const target = await slowTarget(40);
      await register('fair', target.url, { maxInFlight: 4 });
      const big = await submit('fair', 200);
      await eventually(
        () => target.calls.length,
        (count) => count >= 8,
        10_000,
      );
      const small = await submit('fair', 8);
      await settled(small);
      await settled(big);

      expect(open.max).toBe(4);
      // In turns with the big batch: the small one's 8 calls are done within the first few dozen, not after the 200.
      const smallCalls = ofBatch(target.calls, small);
      expect(smallCalls).toHaveLength(8);
      expect(Math.max(...smallCalls)).toBeLessThan(60);
      expect(ofBatch(target.calls, big)).toHaveLength(200);

      // The wait in the queue is visible: queued when triggered, called when a slot came.
      const waits = async (id: string): Promise<number[]> => {
        const page = await app.request<{ items: ExecutionView[] }>('GET', `/v1/batches/${id}/executions?limit=200`);
        return page.body.items.map((execution) => {
          expect(execution.queuedAt).toBe(execution.triggeredAt);
          expect(execution.calledAt).not.toBeNull();
          return Date.parse(execution.calledAt!) - Date.parse(execution.queuedAt!);
        });
      };
      const bigWaits = await waits(big);
      const smallWaits = await waits(small);
      expect(bigWaits).toHaveLength(200);
      expect(Math.min(...bigWaits, ...smallWaits)).toBeGreaterThanOrEqual(0);
      // 200 executions on 4 slots at 40 ms a call: the last of the big batch waited about 2 s, the small batch far less.
      expect(Math.max(...bigWaits)).toBeGreaterThan(1000);
      expect(Math.max(...smallWaits)).toBeLessThan(Math.max(...bigWaits) / 2);
    });

    it('a priority-10 batch goes ahead of the priority-50 ones', async () => {
      const target = await slowTarget(40);
      await register('prio', target.url, { maxInFlight: 4 });
      const normal = [await submit('prio', 60), await submit('prio', 60)];
      await eventually(
        () => target.calls.length,
        (count) => count >= 8,
        10_000,
      );
      const urgent = await submit('prio', 12, 10);
      await settled(urgent);
      await Promise.all(normal.map((id) => settled(id)));

      const urgentCalls = ofBatch(target.calls, urgent);
      expect(urgentCalls).toHaveLength(12);
      // Between the urgent batch's first and last call, the others get only the slots that freed
      // while its executions were arriving at the executor (at most the 4 in flight).
      const first = Math.min(...urgentCalls);
      const last = Math.max(...urgentCalls);
      const overtaking = target.calls.slice(first, last + 1).filter((call) => call.body.batchId !== urgent);
      expect(overtaking.length).toBeLessThanOrEqual(4);
      // And it went first: done within the first few dozen of the 132 calls, not after the 120 that came before it.
      expect(last).toBeLessThan(40);
      expect(target.calls).toHaveLength(132);
    });

    it('two batches of a workflow with maxInFlight 2 never have 3 calls open', async () => {
      const target = await slowTarget(60);
      const mine = { now: 0, max: 0 };
      const respond = target.respond;
      target.respond = async (call, count) => {
        mine.max = Math.max(mine.max, ++mine.now);
        try {
          return await respond(call, count);
        } finally {
          mine.now--;
        }
      };
      await register('narrow', target.url, { maxInFlight: 2 });
      const ids = [await submit('narrow', 10), await submit('narrow', 10)];
      await Promise.all(ids.map((id) => settled(id)));
      expect(mine.max).toBe(2);
      expect(target.calls).toHaveLength(20);
    });

    it('refuses limits.maxPerSecond outside 1 to 10000 (422 naming it), and shows the limits it took', async () => {
      const target = await slowTarget(1);
      const attempt = (limits: unknown) =>
        app.request<{ details?: { field: string; message: string }[] }>('POST', '/v1/workflows', {
          id: 'rate',
          name: 'rate',
          inputs: [],
          target: { url: target.url },
          limits,
        });
      for (const maxPerSecond of [0, 10_001]) {
        const refused = await attempt({ maxPerSecond });
        expect(refused.status).toBe(422);
        expect(refused.body.details).toEqual([
          { code: 'invalid_workflow', field: 'limits.maxPerSecond', message: 'limits.maxPerSecond must be an integer from 1 to 10000' },
        ]);
      }
      expect((await attempt({ maxPerSecond: 1.5 })).status).toBe(400);
      expect((await attempt({ maxInFlight: 3, maxPerSecond: 7 })).status).toBe(201);
      const shown = await app.request<{ limits: unknown }>('GET', '/v1/workflows/rate');
      expect(shown.body.limits).toEqual({ maxInFlight: 3, maxPerSecond: 7 });
    });

    it('maxPerSecond holds over 5 seconds', async () => {
      const target = await slowTarget(5);
      await register('paced', target.url, { maxPerSecond: 5 });
      const started = Date.now();
      const id = await submit('paced', 30);
      await settled(id, 30_000);
      const at = target.calls.map((call) => call.at);
      expect(at).toHaveLength(30);
      // 30 calls at 5 a second: the last starts at least 5 windows after the first.
      expect(at[29]! - at[0]!).toBeGreaterThanOrEqual(4900);
      expect(Date.now() - started).toBeGreaterThanOrEqual(5000);
      // No 6 calls inside one second (less a little for the hop from the executor to the target).
      for (let i = 5; i < at.length; i++) expect(at[i]! - at[i - 5]!).toBeGreaterThanOrEqual(950);
    });
  });

  /** Stops the process (`end`) with executions calling, queued (and, with a small EXECUTOR_BATCH_WINDOW, parked), starts it again, and checks every one ran once but the cut-off calls. */
  const restartLosesNone = async (end: 'stop' | 'kill', env: Record<string, string> = {}): Promise<void> => {
    data = tempDir('flotilla-flow-restart-');
    const port = await freePort();
    app = new PlatformProcess(port, data.path, { EXECUTOR_CONCURRENCY: '4', ...env });
    const target = await slowTarget(100);
    try {
      await app.start();
      await register('restart', target.url);
      const id = await submit('restart', 60);
      await eventually(
        () => target.calls.length,
        (count) => count >= 12,
        10_000,
      );
      await (end === 'stop' ? app.stop() : app.kill());
      const before = target.calls.length;
      // Called before the stop and possibly cut off by it: only these may be called again.
      const calledBefore = new Set(target.calls.map((call) => call.key));
      expect(before).toBeLessThan(60);

      app = new PlatformProcess(port, data.path, { EXECUTOR_CONCURRENCY: '4', ...env });
      await app.start();
      const view = await settled(id);
      expect(view.progress).toMatchObject({ total: 60, completed: 60, failed: 0 });

      const perKey = new Map<string, number>();
      for (const call of target.calls) perKey.set(call.key, (perKey.get(call.key) ?? 0) + 1);
      expect(perKey.size).toBe(60);
      const twice = [...perKey].filter(([, count]) => count > 1).map(([key]) => key);
      // Only calls cut off by the stop (at most the 4 in flight) ran again; the queued ones ran once.
      expect(twice.length).toBeLessThanOrEqual(4);
      for (const key of twice) expect(calledBefore.has(key)).toBe(true);
      expect([...perKey.values()].every((count) => count <= 2)).toBe(true);

      const history = (await app.request<{ items: HistoryEntry[] }>('GET', `/v1/batches/${id}/history?limit=1000`)).body.items;
      const completed = history
        .filter((entry) => entry.type === 'ExecutionCompleted')
        .map((entry) => (entry.data as { index: number }).index);
      expect(completed.sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, n) => n));
    } finally {
      await app.kill();
      await Promise.all(targets.splice(0).map((server) => server.stop()));
      data.remove();
    }
  };

  it('a restart with executions queued loses none and calls none twice', () => restartLosesNone('stop'));

  it('a kill -9 with executions parked past the batch window loses none and calls none twice', () =>
    restartLosesNone('kill', { EXECUTOR_BATCH_WINDOW: '5' }));

  it('a kill -9 while a wave at interval 0 waits for room in the executor: the rest is triggered after the restart, none lost, none called twice', async () => {
    const size = 1200;
    const env = { EXECUTOR_CONCURRENCY: '4', EXECUTOR_BATCH_WINDOW: '20' };
    data = tempDir('flotilla-flow-room-');
    const port = await freePort();
    app = new PlatformProcess(port, data.path, env);
    const target = await slowTarget(10);
    try {
      await app.start();
      await register('room', target.url);
      const id = await submit('room', size);
      await eventually(
        () => target.calls.length,
        (count) => count >= 12,
        10_000,
      );
      // Past its window the wave waits for the calls: far from every execution is triggered yet.
      const before = (await app.request<BatchView>('GET', `/v1/batches/${id}`)).body.progress;
      expect(before.triggered).toBeGreaterThan(0);
      expect(before.triggered).toBeLessThan(size);
      await app.kill();
      const calledBefore = new Set(target.calls.map((call) => call.key));

      app = new PlatformProcess(port, data.path, env);
      await app.start();
      const view = await settled(id);
      expect(view.progress).toMatchObject({ total: size, triggered: size, completed: size, failed: 0 });
      const perKey = new Map<string, number>();
      for (const call of target.calls) perKey.set(call.key, (perKey.get(call.key) ?? 0) + 1);
      expect(perKey.size).toBe(size);
      // Only calls cut off by the kill (at most the 4 in flight) ran again.
      const twice = [...perKey].filter(([, count]) => count > 1).map(([key]) => key);
      expect(twice.length).toBeLessThanOrEqual(4);
      for (const key of twice) expect(calledBefore.has(key)).toBe(true);
    } finally {
      await app.kill();
      await Promise.all(targets.splice(0).map((server) => server.stop()));
      data.remove();
    }
  }, 90_000);
});
