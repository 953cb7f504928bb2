import { MIN_THROTTLE_BACKOFF_MS, SUCCESSES_PER_STEP, WorkflowThrottle, type ThrottlePermit } from './workflow-throttle';
import { MAX_RETRY_AFTER_MS } from './retry-policy';

/** Asks for a permit without awaiting; `permit` is set once it is granted, and its call begun at once. */
const ask = (throttle: WorkflowThrottle, workflowId: string, signal?: AbortSignal) => {
  const state: { permit: ThrottlePermit | null; error: unknown } = { permit: null, error: null };
  const promise = throttle.permit(workflowId, signal).then(
    (permit) => {
      expect(throttle.begin(permit)).toBe(true);
      state.permit = permit;
    },
    (error: unknown) => void (state.error = error),
  );
  return Object.assign(state, { promise });
};
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const granted = (asks: { permit: ThrottlePermit | null }[]): number => asks.filter((asked) => asked.permit !== null).length;

describe('WorkflowThrottle', () => {
  beforeEach(() => {
    // Fake time (Date.now and setTimeout) so the reopening can be stepped; setImmediate stays real to let promises settle.
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'], now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(() => jest.useRealTimers());

  it('grants at once, without limit, while the workflow was never throttled', async () => {
    const throttle = new WorkflowThrottle();
    const calls = Array.from({ length: 50 }, () => ask(throttle, 'a'));
    await settle();
    expect(granted(calls)).toBe(50);
    expect(throttle.limitOf('a')).toBeNull();
    expect(throttle.untilOf('a')).toBeNull();
  });

  it('on a 429 halves the calls in flight, holds every call until Retry-After, and halves once per wave of 429s', async () => {
    const throttle = new WorkflowThrottle();
    const first = Array.from({ length: 12 }, () => ask(throttle, 'a'));
    await settle();
    const now = new Date();
    // The whole wave answers 429: the first halves 12 to 6, the rest were made under the old limit.
    const until = first.map((call) => throttle.throttled(call.permit!, '3', now));
    expect(until[0]).toEqual(new Date(now.getTime() + 3000));
    expect(throttle.limitOf('a')).toBe(6);
    for (const call of first) call.permit!.release();

    const next = Array.from({ length: 10 }, () => ask(throttle, 'a'));
    await settle();
    expect(granted(next)).toBe(0);
    expect(throttle.untilOf('a')).toEqual(until[0]);
    jest.advanceTimersByTime(2999);
    await settle();
    expect(granted(next)).toBe(0);
    jest.advanceTimersByTime(1);
    await settle();
    expect(granted(next)).toBe(6);
    expect(throttle.untilOf('a')).toBeNull();
    // A 429 of a call made under the new limit halves it again.
    throttle.throttled(next[0]!.permit!, '1', new Date());
    expect(throttle.limitOf('a')).toBe(3);
  });

  it('keeps other workflows going while one is closed', async () => {
    const throttle = new WorkflowThrottle();
    const a = ask(throttle, 'a');
    await settle();
    throttle.throttled(a.permit!, '60', new Date());
    a.permit!.release();
    const [heldA, freeB] = [ask(throttle, 'a'), ask(throttle, 'b')];
    await settle();
    expect(heldA.permit).toBeNull();
    expect(freeB.permit).not.toBeNull();
  });

  it('reads Retry-After as an HTTP date too, and caps it as retries are', async () => {
    const throttle = new WorkflowThrottle();
    const call = ask(throttle, 'a');
    await settle();
    const now = new Date();
    const inTen = new Date(now.getTime() + 10_000);
    expect(throttle.throttled(call.permit!, inTen.toUTCString(), now)).toEqual(inTen);
    expect(throttle.throttled(call.permit!, '86400', now)).toEqual(new Date(now.getTime() + MAX_RETRY_AFTER_MS));
  });

  it('without Retry-After backs off by the one formula: exponential per decrease, from the workflow base with a floor', async () => {
    const throttle = new WorkflowThrottle({ random: () => 0.5 });
    const calls = Array.from({ length: 8 }, () => ask(throttle, 'a'));
    await settle();
    const now = new Date();
    // Half of base 1000 (full jitter at 0.5), then half of 2000 after the next decrease.
    expect(throttle.throttled(calls[0]!.permit!, undefined, now, 1000).getTime() - now.getTime()).toBe(500);
    for (const call of calls) call.permit!.release();
    jest.advanceTimersByTime(500);
    const again = ask(throttle, 'a');
    await settle();
    const later = new Date();
    expect(throttle.throttled(again.permit!, undefined, later, 1000).getTime() - later.getTime()).toBe(1000);
    // A workflow whose base is 0 still waits: the floor.
    const other = new WorkflowThrottle({ random: () => 0.5 });
    const zero = ask(other, 'z');
    await settle();
    expect(other.throttled(zero.permit!, undefined, later, 0).getTime() - later.getTime()).toBe(MIN_THROTTLE_BACKOFF_MS / 2);
  });

  it('ramps back one call per 10 successes, up to where the episode started, then is unlimited', async () => {
    const throttle = new WorkflowThrottle();
    const calls = Array.from({ length: 4 }, () => ask(throttle, 'a'));
    await settle();
    throttle.throttled(calls[0]!.permit!, '0', new Date());
    for (const call of calls) call.permit!.release();
    expect(throttle.limitOf('a')).toBe(2);
    const held = Array.from({ length: 5 }, () => ask(throttle, 'a'));
    await settle();
    expect(granted(held)).toBe(2);
    for (let i = 0; i < SUCCESSES_PER_STEP - 1; i++) throttle.succeeded('a');
    await settle();
    expect(granted(held)).toBe(2);
    throttle.succeeded('a');
    await settle();
    expect(throttle.limitOf('a')).toBe(3);
    expect(granted(held)).toBe(3);
    for (let i = 0; i < SUCCESSES_PER_STEP; i++) throttle.succeeded('a');
    await settle();
    // Back at 4, where it started: unlimited again.
    expect(throttle.limitOf('a')).toBeNull();
    expect(granted(held)).toBe(5);
    expect(throttle.isThrottled('a')).toBe(false);
  });

  it('a 429 during the ramp starts over from the calls in flight then', async () => {
    const throttle = new WorkflowThrottle();
    const calls = Array.from({ length: 8 }, () => ask(throttle, 'a'));
    await settle();
    throttle.throttled(calls[0]!.permit!, '0', new Date());
    for (const call of calls) call.permit!.release();
    const under = Array.from({ length: 4 }, () => ask(throttle, 'a'));
    await settle();
    for (let i = 0; i < 5; i++) throttle.succeeded('a');
    throttle.throttled(under[0]!.permit!, '0', new Date());
    expect(throttle.limitOf('a')).toBe(2);
    // Successes before that 429 do not count towards the next step.
    for (let i = 0; i < 5; i++) throttle.succeeded('a');
    expect(throttle.limitOf('a')).toBe(2);
  });

  it('a permit granted before a 429, whose call has not begun, is not good any more: its holder asks again', async () => {
    const throttle = new WorkflowThrottle();
    const calling = ask(throttle, 'a');
    await settle();
    // Granted at once, but its holder is still waiting for a call slot.
    const queued = await throttle.permit('a');
    throttle.throttled(calling.permit!, '1', new Date());
    expect(throttle.begin(queued)).toBe(false);
    queued.release();
    calling.permit!.release();
    const again = throttle.permit('a');
    jest.advanceTimersByTime(1000);
    const fresh = await again;
    expect(throttle.begin(fresh)).toBe(true);
    // The limit halved from the one call really made, not from the permits out.
    expect(throttle.limitOf('a')).toBe(1);
  });

  it('never goes below one call in flight', async () => {
    const throttle = new WorkflowThrottle();
    const call = ask(throttle, 'a');
    await settle();
    throttle.throttled(call.permit!, '0', new Date());
    expect(throttle.limitOf('a')).toBe(1);
    call.permit!.release();
    const next = ask(throttle, 'a');
    await settle();
    throttle.throttled(next.permit!, '0', new Date());
    expect(throttle.limitOf('a')).toBe(1);
  });

  it('a waiter whose signal aborts leaves the line with its reason; the release is idempotent', async () => {
    const throttle = new WorkflowThrottle();
    const first = ask(throttle, 'a');
    await settle();
    throttle.throttled(first.permit!, '0', new Date());
    const abort = new AbortController();
    const waiting = ask(throttle, 'a', abort.signal);
    const behind = ask(throttle, 'a');
    await settle();
    expect(throttle.waitingOf('a')).toBe(2);
    abort.abort(new Error('stopping'));
    await settle();
    expect((waiting.error as Error).message).toBe('stopping');
    first.permit!.release();
    first.permit!.release();
    await settle();
    expect(behind.permit).not.toBeNull();
    expect(throttle.inFlightOf('a')).toBe(1);
  });

  it('many waiters on one signal: served in arrival order, and all rejected at once when it aborts', async () => {
    const throttle = new WorkflowThrottle();
    const stopping = new AbortController();
    const first = ask(throttle, 'a', stopping.signal);
    await settle();
    throttle.throttled(first.permit!, '1', new Date());
    first.permit!.release();
    const waiting = Array.from({ length: 20_000 }, () => ask(throttle, 'a', stopping.signal));
    await settle();
    expect(throttle.waitingOf('a')).toBe(20_000);
    jest.advanceTimersByTime(1000);
    await settle();
    // Open again with a limit of 1: the first in line only.
    expect(waiting.map((asked) => asked.permit !== null).indexOf(true)).toBe(0);
    expect(granted(waiting)).toBe(1);
    stopping.abort(new Error('stopping'));
    await Promise.all(waiting.map((asked) => asked.promise));
    expect(waiting.filter((asked) => asked.error instanceof Error && asked.error.message === 'stopping')).toHaveLength(19_999);
    expect(throttle.waitingOf('a')).toBe(0);
  });
  it('wakes its waiters even when the clock ticks past the reopening in the middle of a serve', async () => {
    // A clock of its own that can move on at every reading, as Date.now does between two reads.
    let time = Date.parse('2026-01-01T00:00:00Z');
    let ticking = false;
    const throttle = new WorkflowThrottle({ now: () => (ticking ? time++ : time) });
    const first = ask(throttle, 'a');
    await settle();
    const until = throttle.throttled(first.permit!, '1', new Date(time)).getTime();
    first.permit!.release();
    const next = ask(throttle, 'a');
    await settle();
    expect(next.permit).toBeNull();
    // The reopening timer fires a millisecond early by this clock, which then ticks to the reopening
    // time: the serve must still leave a timer behind (this once stalled a throttled batch for good).
    time = until - 1;
    ticking = true;
    jest.advanceTimersByTime(1000);
    await settle();
    ticking = false;
    time = until + 10;
    jest.advanceTimersByTime(10);
    await settle();
    expect(next.permit).not.toBeNull();
  });
});
