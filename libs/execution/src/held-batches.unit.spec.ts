import { HeldBatches } from './held-batches';

const never = new AbortController().signal;
const settled = async (promise: Promise<void>): Promise<boolean> => {
  let done = false;
  void promise.then(() => (done = true)).catch(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('HeldBatches', () => {
  it('lets a batch that is not held through at once', async () => {
    const held = new HeldBatches();
    await expect(held.untilReleased('b1', () => Promise.resolve(false), never)).resolves.toBeUndefined();
  });

  it('keeps a held batch waiting until its release, and only that batch', async () => {
    const held = new HeldBatches();
    held.hold('b1');
    const waiting = held.untilReleased('b1', () => Promise.resolve(true), never, 60_000);
    expect(await settled(waiting)).toBe(false);
    expect(await settled(held.untilReleased('b2', () => Promise.resolve(true), never, 60_000))).toBe(true);
    held.release('b1');
    await expect(waiting).resolves.toBeUndefined();
    expect(held.isHeld('b1')).toBe(false);
  });

  it('goes on when a fresh read of the batch says the hold is over (a release it was never told of)', async () => {
    const held = new HeldBatches();
    held.hold('b1');
    let reads = 0;
    await held.untilReleased('b1', () => Promise.resolve(++reads < 3), never, 5);
    expect(reads).toBe(3);
    expect(held.isHeld('b1')).toBe(false);
  });

  it('rejects a wait when the executor stops', async () => {
    const held = new HeldBatches();
    held.hold('b1');
    const stopping = new AbortController();
    const waiting = held.untilReleased('b1', () => Promise.resolve(true), stopping.signal, 60_000);
    stopping.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    expect(held.isHeld('b1')).toBe(true);
  });

  it('reads a held batch once per period however many executions wait on it, and lets them all go at the release', async () => {
    const held = new HeldBatches();
    held.hold('b1');
    let reads = 0;
    const stillHeld = (): Promise<boolean> => Promise.resolve(++reads < 4);
    const waiting = Array.from({ length: 10_000 }, () => held.untilReleased('b1', stillHeld, never, 10));
    await Promise.all(waiting);
    expect(reads).toBe(4);
    expect(held.isHeld('b1')).toBe(false);
  });

  it('rejects every wait of a stopping executor, holding no listener per wait', async () => {
    const held = new HeldBatches();
    held.hold('b1');
    held.hold('b2');
    const stopping = new AbortController();
    const waits = [1, 2, 3].flatMap(() =>
      ['b1', 'b2'].map((id) => held.untilReleased(id, () => Promise.resolve(true), stopping.signal, 60_000)),
    );
    stopping.abort(new Error('stopping'));
    for (const wait of waits) await expect(wait).rejects.toThrow('stopping');
    await expect(held.untilReleased('b1', () => Promise.resolve(true), stopping.signal)).rejects.toThrow('stopping');
  });
});
