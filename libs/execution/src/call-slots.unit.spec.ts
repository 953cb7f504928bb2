import { CallSlots, READY_RECHECK_MS, type ReleaseSlot, type SlotRequest } from './call-slots';

/** Acquires without awaiting; `granted` says whether the slot came yet. Each workflow is one batch unless told otherwise. */
const ask = (slots: CallSlots, workflowId: string, limit?: number, signal?: AbortSignal, more: Partial<SlotRequest> = {}) => {
  const state: { granted: boolean; release: ReleaseSlot | null; error: unknown } = { granted: false, release: null, error: null };
  const request = { workflowId, batchId: workflowId, priority: 50, ...(limit === undefined ? {} : { maxInFlight: limit }), ...more };
  const promise = slots.acquire(request, signal).then(
    (release) => {
      state.granted = true;
      state.release = release;
    },
    (error: unknown) => void (state.error = error),
  );
  return Object.assign(state, { promise });
};
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CallSlots', () => {
  it('defaults a workflow to half the slots (at least one)', () => {
    expect(new CallSlots(256).defaultWorkflowLimit).toBe(128);
    expect(new CallSlots(7).defaultWorkflowLimit).toBe(3);
    expect(new CallSlots(1).defaultWorkflowLimit).toBe(1);
    expect(() => new CallSlots(0)).toThrow('capacity must be a positive integer, not 0');
  });

  it('holds one workflow to its limit while another still gets the free slots', async () => {
    const slots = new CallSlots(8);
    const hanging = Array.from({ length: 12 }, () => ask(slots, 'a'));
    await settle();
    expect(hanging.filter((call) => call.granted)).toHaveLength(4);
    expect(slots.inFlightOf('a')).toBe(4);
    expect(slots.waitingOf('a')).toBe(8);

    const healthy = Array.from({ length: 6 }, () => ask(slots, 'b'));
    await settle();
    expect(healthy.filter((call) => call.granted)).toHaveLength(4);
    expect(slots.inFlightOf()).toBe(8);

    // A freed slot of b goes to b's next caller: a is at its limit.
    healthy[0]!.release!();
    await settle();
    expect(healthy.filter((call) => call.granted)).toHaveLength(5);
    expect(slots.inFlightOf('a')).toBe(4);

    // A freed slot of a goes to a's next caller, in order.
    hanging[0]!.release!();
    await settle();
    expect(hanging.map((call) => call.granted)).toEqual([true, true, true, true, true, false, false, false, false, false, false, false]);
  });

  it('never goes over the capacity, and shares freed slots between the workflows in line', async () => {
    const slots = new CallSlots(4, 4);
    const first = Array.from({ length: 4 }, () => ask(slots, 'a'));
    await settle();
    const a = Array.from({ length: 3 }, () => ask(slots, 'a'));
    const b = Array.from({ length: 3 }, () => ask(slots, 'b'));
    await settle();
    expect(slots.inFlightOf()).toBe(4);
    expect([...a, ...b].some((call) => call.granted)).toBe(false);

    first[0]!.release!();
    first[1]!.release!();
    await settle();
    // a was in line first, then b: one each.
    expect(a.filter((call) => call.granted)).toHaveLength(1);
    expect(b.filter((call) => call.granted)).toHaveLength(1);
    expect(slots.inFlightOf()).toBe(4);
  });

  it('takes a per-workflow limit from the caller, and releasing twice frees one slot', async () => {
    const slots = new CallSlots(10);
    const calls = Array.from({ length: 3 }, () => ask(slots, 'a', 1));
    await settle();
    expect(calls.filter((call) => call.granted)).toHaveLength(1);
    calls[0]!.release!();
    calls[0]!.release!();
    await settle();
    expect(calls.filter((call) => call.granted)).toHaveLength(2);
    expect(slots.inFlightOf('a')).toBe(1);
  });

  it('an aborted wait leaves the line and rejects with the reason', async () => {
    const slots = new CallSlots(1);
    const holder = ask(slots, 'a');
    const controller = new AbortController();
    const waiting = ask(slots, 'b', undefined, controller.signal);
    const next = ask(slots, 'c');
    await settle();
    controller.abort(new Error('stopping'));
    await waiting.promise;
    expect(waiting.error).toEqual(new Error('stopping'));
    expect(slots.waitingOf()).toBe(1);
    holder.release!();
    await settle();
    expect(next.granted).toBe(true);
    expect(waiting.granted).toBe(false);
    await expect(slots.acquire({ workflowId: 'd', batchId: 'd', priority: 50 }, controller.signal)).rejects.toThrow('stopping');
  });

  /** Releases the call in flight that was granted first, and lets the next one in. */
  const releaseOne = async (calls: ReturnType<typeof ask>[]): Promise<void> => {
    calls.find((call) => call.granted && call.release !== null)!.release!();
    calls.find((call) => call.granted && call.release !== null)!.release = null;
    await settle();
  };

  it('serves the lower priority number first, whatever came first', async () => {
    const slots = new CallSlots(1, 1);
    const holder = ask(slots, 'w');
    const late = Array.from({ length: 3 }, () => ask(slots, 'w', undefined, undefined, { batchId: 'normal', priority: 50 }));
    const urgent = Array.from({ length: 2 }, () => ask(slots, 'w', undefined, undefined, { batchId: 'urgent', priority: 10 }));
    await settle();
    const order: string[] = [];
    const all = [holder, ...late, ...urgent];
    for (let i = 0; i < 5; i++) {
      await releaseOne(all);
      order.push(urgent.filter((call) => call.granted).length + '/' + late.filter((call) => call.granted).length);
    }
    expect(order).toEqual(['1/0', '2/0', '2/1', '2/2', '2/3']);
  });

  it('takes turns between batches of equal priority, so a small batch does not wait behind a big one', async () => {
    const slots = new CallSlots(2, 2);
    const big = Array.from({ length: 100 }, () => ask(slots, 'w', undefined, undefined, { batchId: 'big' }));
    const small = Array.from({ length: 3 }, () => ask(slots, 'w', undefined, undefined, { batchId: 'small' }));
    await settle();
    expect(big.filter((call) => call.granted)).toHaveLength(2);
    const all = [...big, ...small];
    for (let i = 0; i < 6; i++) await releaseOne(all);
    expect(small.every((call) => call.granted)).toBe(true);
    expect(big.filter((call) => call.granted)).toHaveLength(5);
  });

  it('with fairness off, serves a workflow first come first served', async () => {
    const slots = new CallSlots(2, 2, { fair: false });
    const big = Array.from({ length: 10 }, () => ask(slots, 'w', undefined, undefined, { batchId: 'big' }));
    const small = Array.from({ length: 3 }, () => ask(slots, 'w', undefined, undefined, { batchId: 'small', priority: 1 }));
    await settle();
    const all = [...big, ...small];
    for (let i = 0; i < 8; i++) await releaseOne(all);
    expect(big.every((call) => call.granted)).toBe(true);
    expect(small.some((call) => call.granted)).toBe(false);
  });

  it("shares a workflow's maxInFlight between its batches, and passes over it for other workflows", async () => {
    const slots = new CallSlots(10);
    const one = Array.from({ length: 3 }, () => ask(slots, 'w', 2, undefined, { batchId: 'one' }));
    const two = Array.from({ length: 3 }, () => ask(slots, 'w', 2, undefined, { batchId: 'two' }));
    const other = ask(slots, 'x', 2, undefined, { batchId: 'three' });
    await settle();
    expect(slots.inFlightOf('w')).toBe(2);
    expect(other.granted).toBe(true);
    // one had both slots before two came; two joined the line behind one, so: one, then two, then two.
    const granted = (): number[] => [one.filter((call) => call.granted).length, two.filter((call) => call.granted).length];
    expect(granted()).toEqual([2, 0]);
    await releaseOne([...one, ...two]);
    expect(granted()).toEqual([3, 0]);
    await releaseOne([...one, ...two]);
    expect(granted()).toEqual([3, 1]);
    await releaseOne([...one, ...two]);
    expect(granted()).toEqual([3, 2]);
    expect(slots.inFlightOf('w')).toBe(2);
  });

  describe('maxPerSecond', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] }));
    afterEach(() => jest.useRealTimers());

    it('never starts more than maxPerSecond calls in any second, and a timer serves the waiters when the window frees', async () => {
      const slots = new CallSlots(100, 100);
      const starts: number[] = [];
      const calls = Array.from({ length: 12 }, () => ask(slots, 'w', undefined, undefined, { maxPerSecond: 5 }));
      const record = async (): Promise<void> => {
        await settle();
        for (const call of calls) {
          if (!call.granted || call.release === null) continue;
          starts.push(Date.now());
          call.release();
          call.release = null;
        }
      };
      await record();
      expect(starts).toHaveLength(5);
      jest.advanceTimersByTime(999);
      await record();
      expect(starts).toHaveLength(5);
      jest.advanceTimersByTime(1);
      await record();
      expect(starts).toHaveLength(10);
      jest.advanceTimersByTime(1000);
      await record();
      expect(starts).toHaveLength(12);
      for (const start of starts) expect(starts.filter((other) => other >= start && other < start + 1000).length).toBeLessThanOrEqual(5);
    });

    it('a workflow held by its window does not hold up another one', async () => {
      const slots = new CallSlots(100, 100);
      const limited = Array.from({ length: 3 }, () => ask(slots, 'slow', undefined, undefined, { maxPerSecond: 1 }));
      const free = Array.from({ length: 3 }, () => ask(slots, 'fast'));
      await settle();
      expect(limited.filter((call) => call.granted)).toHaveLength(1);
      expect(free.every((call) => call.granted)).toBe(true);
    });
  });

  describe('enqueue: waiters that are callbacks, not promises', () => {
    const request = (batchId: string): SlotRequest => ({ workflowId: 'w', batchId, priority: 50 });

    it('passes over a waiter that is not ready, keeping its place, and asks again within READY_RECHECK_MS', async () => {
      const slots = new CallSlots(1, 1);
      const order: string[] = [];
      const releases: ReleaseSlot[] = [];
      let heldReady = false;
      const callbacks = (name: string, ready?: () => boolean) => ({
        granted: (release: ReleaseSlot) => {
          order.push(name);
          releases.push(release);
        },
        aborted: () => order.push(`${name} aborted`),
        ...(ready === undefined ? {} : { ready }),
      });
      slots.enqueue(
        request('a'),
        undefined,
        callbacks('a1', () => true),
      );
      slots.enqueue(
        request('h'),
        undefined,
        callbacks('h1', () => heldReady),
      );
      slots.enqueue(
        request('b'),
        undefined,
        callbacks('b1', () => true),
      );
      expect(order).toEqual(['a1']);
      releases.shift()!();
      // h1's turn, but it is not ready: b1 goes, h1 keeps its place.
      expect(order).toEqual(['a1', 'b1']);
      releases.shift()!();
      expect(order).toEqual(['a1', 'b1']);
      heldReady = true;
      await new Promise((resolve) => setTimeout(resolve, READY_RECHECK_MS * 3));
      expect(order).toEqual(['a1', 'b1', 'h1']);
      expect(slots.waitingOf()).toBe(0);
    });

    it('a waiter whose signal aborts leaves the line and hears of it; one enqueued on an aborted signal hears at once', () => {
      const slots = new CallSlots(1, 1);
      const heard: string[] = [];
      const controller = new AbortController();
      slots.enqueue(request('a'), controller.signal, { granted: () => heard.push('a granted'), aborted: () => heard.push('a aborted') });
      slots.enqueue(request('b'), controller.signal, { granted: () => heard.push('b granted'), aborted: () => heard.push('b aborted') });
      controller.abort(new Error('stopping'));
      slots.enqueue(request('c'), controller.signal, { granted: () => heard.push('c granted'), aborted: () => heard.push('c aborted') });
      expect(heard).toEqual(['a granted', 'b aborted', 'c aborted']);
      expect(slots.waitingOf()).toBe(0);
    });
  });
});
