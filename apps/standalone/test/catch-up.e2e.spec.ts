import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { ProductFixture, eventually, sleep, type PlatformProcess, type TargetServer } from '@flotilla/testing';

/**
 * Catch-up after a crash, end to end: kill -9 of the product process between two waves, a downtime
 * of several intervals, a restart on the same data directory. The loopback target records when each
 * call starts; that is what the pacing is about.
 */
describe('catch-up after kill -9', () => {
  let product: ProductFixture;
  let app: PlatformProcess;
  let target: TargetServer;

  beforeEach(async () => {
    product = await ProductFixture.start({ name: 'catch-up' });
    ({ app, target } = product);
  });

  afterEach(() => product.stop());

  const MAX_CONCURRENT = 2;
  const INTERVAL_MS = 2000;
  const TOTAL = 14;

  const batch = (id: string) => product.batch<BatchView>(id);
  const history = (id: string) => product.history<HistoryEntry>(id);

  /**
   * Runs a batch of 14 items, 2 a wave every 2 s, kills the process once the second wave's outcomes
   * are in (no call in flight), keeps it down for 7 s (the waves due at 4, 6 and 8 s pass), starts it
   * again and waits for every outcome. Returns the call start times at the target, one per
   * execution, sorted, and when the process was killed.
   */
  const crashBetweenWaves = async (catchUp: 'paced' | 'burst') => {
    const created = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: `catch-up ${catchUp}`,
      workflowId: 'w',
      maxConcurrent: MAX_CONCURRENT,
      batchIntervalSeconds: INTERVAL_MS / 1000,
      catchUp,
      items: Array.from({ length: TOTAL }, (_, i) => ({ inputs: { n: String(i) } })),
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await batch(id)).catchUp).toBe(catchUp);
    await eventually(
      () => batch(id),
      (view) => view.progress.completed === 2 * MAX_CONCURRENT,
      10_000,
      'the first two waves',
    );
    let killedAt = 0;
    app = await product.restart({}, async () => {
      killedAt = Date.now();
      await sleep(7000);
    });
    const done = await eventually(
      () => batch(id),
      (view) => view.progress.completed === TOTAL,
      40_000,
      'every outcome after the restart',
    );
    expect(done.progress).toMatchObject({ total: TOTAL, triggered: TOTAL, completed: TOTAL, failed: 0 });
    const calls = target.calls.filter((call) => call.key.startsWith(`${id}.`));
    // Every execution was called once: none lost, none twice.
    expect(calls.map((call) => call.key).sort()).toEqual(Array.from({ length: TOTAL }, (_, i) => `${id}.${i}`).sort());
    return { id, starts: calls.map((call) => call.at).sort((a, b) => a - b), killedAt };
  };

  /** The shortest span that holds maxConcurrent + 1 call starts: under one interval means more than maxConcurrent calls in an interval. */
  const shortestSpanOfOneMore = (starts: readonly number[]): number => {
    let shortest = Number.POSITIVE_INFINITY;
    for (let i = 0; i + MAX_CONCURRENT < starts.length; i++) shortest = Math.min(shortest, starts[i + MAX_CONCURRENT]! - starts[i]!);
    return shortest;
  };

  it('paced (the default): the missed waves are re-planned from the restart; the target never gets more than maxConcurrent calls per interval', async () => {
    const { id, starts, killedAt } = await crashBetweenWaves('paced');
    // Any maxConcurrent + 1 consecutive call starts span at least an interval (less 300 ms of timer and call jitter).
    expect(shortestSpanOfOneMore(starts)).toBeGreaterThanOrEqual(INTERVAL_MS - 300);

    const entries = await history(id);
    const replanned = entries.filter((entry) => entry.type === 'BatchReplanned');
    expect(replanned).toEqual([
      expect.objectContaining({
        actor: 'system',
        reason: 'catch-up after downtime',
        data: expect.objectContaining({ plan: 1, pending: TOTAL - 2 * MAX_CONCURRENT }),
      }),
    ]);
    const anchor = Date.parse(replanned[0]!.occurredAt);
    // Re-planned once the process was back, not before.
    expect(anchor).toBeGreaterThanOrEqual(killedAt + 7000);
    // Nothing of the old plan was declared after the crash: the waves after it are the new plan's, one interval apart.
    const waves = entries
      .filter((entry) => entry.type === 'WaveDue')
      .map((entry) => entry.data as { plan: number; wave: number; dueAt: string });
    expect(waves.map((wave) => [wave.plan, wave.wave])).toEqual([[0, 0], [0, 1], ...[0, 1, 2, 3, 4].map((wave) => [1, wave])]);
    expect(waves.slice(2).map((wave) => Date.parse(wave.dueAt) - anchor)).toEqual([0, 1, 2, 3, 4].map((wave) => wave * INTERVAL_MS));
  }, 90_000);

  it('burst: the missed waves all fire at once after the restart', async () => {
    const { id, starts, killedAt } = await crashBetweenWaves('burst');
    // The three waves due while it was down (6 calls) start together, within a fraction of an interval.
    expect(shortestSpanOfOneMore(starts)).toBeLessThan(500);
    const afterRestart = starts.filter((start) => start >= killedAt + 7000);
    expect(afterRestart.filter((start) => start - afterRestart[0]! < 500).length).toBeGreaterThanOrEqual(3 * MAX_CONCURRENT);
    expect((await history(id)).filter((entry) => entry.type === 'BatchReplanned')).toEqual([]);
  }, 90_000);
});
