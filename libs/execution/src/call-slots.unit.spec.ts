import { CallSlots, type ReleaseSlot } from './call-slots';

/** Acquires without awaiting; `granted` says whether the slot came yet. */
const ask = (slots: CallSlots, workflowId: string, limit?: number, signal?: AbortSignal) => {
  const state: { granted: boolean; release: ReleaseSlot | null; error: unknown } = { granted: false, release: null, error: null };
  const promise = slots.acquire(workflowId, limit, signal).then(
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
    await expect(slots.acquire('d', undefined, controller.signal)).rejects.toThrow('stopping');
  });
});
