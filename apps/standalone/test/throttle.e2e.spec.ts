import type { BatchView, ExecutionView, HistoryEntry } from '@flotilla/projections';
import { ProductFixture, eventually, type PlatformProcess, type TargetAnswer, type TargetServer } from '@flotilla/testing';

/**
 * Adaptive back-off on 429, end to end: one process with EXECUTOR_CONCURRENCY=4 and a loopback
 * target that answers 429 for a while (a "storm"), counting every call it gets.
 */
describe('a target that throttles (429)', () => {
  let product: ProductFixture;
  let app: PlatformProcess;
  let target: TargetServer;

  beforeEach(async () => {
    // Each test registers the workflow with the retry policy it is about.
    product = await ProductFixture.start({ name: 'throttle', env: { EXECUTOR_CONCURRENCY: '4' }, workflows: [] });
    ({ app, target } = product);
  });

  afterEach(() => product.stop());

  const ITEMS = 40;
  const STORM_MS = 3000;

  const registerWorkflow = async (retry: Record<string, unknown>) => {
    const response = await app.request('POST', '/v1/workflows', {
      id: 'rated',
      name: 'Rate-limited target',
      inputs: [{ name: 'n' }],
      target: { url: target.url, timeoutMs: 2000 },
      retry,
    });
    expect(response.status).toBe(201);
    return response.body as { retry: { maxThrottleSeconds: number } };
  };

  const createBatch = async (total = ITEMS): Promise<string> => {
    const created = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'throttled',
      workflowId: 'rated',
      maxConcurrent: total,
      batchIntervalSeconds: 0,
      items: Array.from({ length: total }, (_, i) => ({ inputs: { n: String(i) } })),
    });
    expect(created.status).toBe(201);
    return created.body.id;
  };

  /** 429 (with `headers`) for STORM_MS from the first call, 200 after it. */
  const storm = (headers: Record<string, string>) => {
    let startedAt: number | null = null;
    target.respond = (call): TargetAnswer => {
      startedAt ??= call.at;
      return call.at - startedAt < STORM_MS ? { status: 429, headers } : { status: 200, body: { ok: call.key } };
    };
  };

  const batch = (id: string) => product.batch<BatchView>(id);
  const executions = (id: string) => product.executions<ExecutionView>(id);
  const history = (id: string) => product.history<HistoryEntry>(id);

  /** Waits for every execution's outcome, polling the batch, and says whether throttledUntil was ever seen set. */
  const settle = async (id: string): Promise<{ view: BatchView; sawThrottledUntil: string | null }> => {
    let sawThrottledUntil: string | null = null;
    try {
      const view = await eventually(
        async () => {
          const current = await batch(id);
          sawThrottledUntil ??= current.throttledUntil;
          return current;
        },
        (current) => current.progress.completed + current.progress.failed === current.progress.total,
        40_000,
        'every outcome',
      );
      return { view, sawThrottledUntil };
    } catch (error) {
      // What the target saw and what the process said, so a stall can be told from a slow run.
      const answers = target.calls.map((call) => `${call.key}@${call.at}`).slice(-20);
      throw new Error(
        `${String(error)}\ntarget calls: ${target.calls.length}, last: ${answers.join(' ')}\n` +
          `process output:\n${app.output.join('').slice(-3000)}`,
      );
    }
  };

  const throttleEvents = async (id: string) =>
    (await history(id)).filter((entry) => entry.type === 'BatchThrottled' || entry.type === 'BatchThrottleLifted');

  it('a 3-second storm with Retry-After: every execution completes, with far fewer calls than a retry loop, one pair in history', async () => {
    expect((await registerWorkflow({ maxAttempts: 2, backoffMs: 50 })).retry.maxThrottleSeconds).toBe(3600);
    storm({ 'Retry-After': '1' });
    const id = await createBatch();
    const { view, sawThrottledUntil } = await settle(id);

    expect(view.progress).toMatchObject({ total: ITEMS, completed: ITEMS, failed: 0 });
    // Seen while the storm lasted, and a time the API can show; null again once calls flowed.
    expect(sawThrottledUntil).not.toBeNull();
    expect(Number.isNaN(Date.parse(sawThrottledUntil!))).toBe(false);
    expect(view.throttledUntil).toBeNull();

    const calls = target.calls.filter((call) => call.key.startsWith(`${id}.`));
    const throttledCalls = calls.length - ITEMS;
    // A retry loop honouring Retry-After: 1 would have each execution answered 429 about once a second
    // for the 3 seconds: ~3 x 40. The throttle halves the calls in flight at each 429 and holds the
    // whole workflow back, so the storm costs a handful (4 here, EXECUTOR_CONCURRENCY=4 giving the workflow 2 calls in flight).
    expect(throttledCalls).toBeGreaterThan(0);
    expect(throttledCalls).toBeLessThan(ITEMS / 4);
    // maxAttempts 2, yet nothing failed: 429s use up no attempt. attempts counts every call.
    const list = await executions(id);
    for (const execution of list) {
      expect([execution.index, execution.outcome?.status]).toEqual([execution.index, 'completed']);
      expect([execution.index, execution.attempts]).toEqual([
        execution.index,
        calls.filter((call) => call.key === `${id}.${execution.index}`).length,
      ]);
    }

    const pair = await throttleEvents(id);
    expect(pair.map((entry) => entry.type)).toEqual(['BatchThrottled', 'BatchThrottleLifted']);
    expect(pair[0]!.data).toMatchObject({ batchId: id, workflowId: 'rated', until: sawThrottledUntil });
    // History does not get the 429s: no failed attempt was recorded for them.
    expect((await history(id)).filter((entry) => entry.type === 'ExecutionAttemptFailed')).toEqual([]);
  });

  it('a storm without Retry-After also ends with every execution completed, backing off exponentially', async () => {
    await registerWorkflow({ maxAttempts: 1, backoffMs: 100 });
    storm({});
    const id = await createBatch(12);
    const { view } = await settle(id);
    expect(view.progress).toMatchObject({ total: 12, completed: 12, failed: 0 });
    expect((await throttleEvents(id)).map((entry) => entry.type)).toEqual(['BatchThrottled', 'BatchThrottleLifted']);
  });

  it('a target that always answers 429 fails the executions after retry.maxThrottleSeconds, saying so, attempts counting every call', async () => {
    await registerWorkflow({ maxAttempts: 1, backoffMs: 50, maxThrottleSeconds: 2 });
    target.respond = () => ({ status: 429, headers: { 'Retry-After': '1' } });
    const id = await createBatch(3);
    const { view } = await settle(id);
    expect(view.progress).toMatchObject({ total: 3, completed: 0, failed: 3 });
    expect(view.throttledUntil).toBeNull();

    const list = await executions(id);
    for (const execution of list) {
      expect(execution.outcome).toMatchObject({
        status: 'failed',
        error: 'throttled by the target (HTTP 429) for 2 s without a successful call',
        statusCode: 429,
      });
      const calls = target.calls.filter((call) => call.key === `${id}.${execution.index}`).length;
      expect([execution.index, execution.attempts]).toEqual([execution.index, calls]);
      expect(calls).toBeGreaterThanOrEqual(1);
    }
    // The episode opened once; it ended with the batch, not with a lift.
    expect((await throttleEvents(id)).map((entry) => entry.type)).toEqual(['BatchThrottled']);
  });

  it('refuses retry.maxThrottleSeconds out of range with a 422 naming the field', async () => {
    const response = await app.request('POST', '/v1/workflows', {
      id: 'bad',
      name: 'bad',
      inputs: [],
      target: { url: target.url },
      retry: { maxThrottleSeconds: 0 },
    });
    expect(response.status).toBe(422);
    expect(JSON.stringify(response.body)).toContain('retry.maxThrottleSeconds');
  });
});
