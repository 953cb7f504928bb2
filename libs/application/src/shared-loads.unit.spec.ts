import { SharedLoads } from './shared-loads';

/** A load function whose calls the test finishes by hand. */
class ManualLoads {
  readonly started: { key: string; finish: (value: number) => void; fail: (error: Error) => void }[] = [];
  readonly load = (key: string): Promise<number> =>
    new Promise<number>((resolve, reject) => this.started.push({ key, finish: resolve, fail: reject }));
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('SharedLoads', () => {
  it('callers that ask while no load has started share one load', async () => {
    const manual = new ManualLoads();
    const loads = new SharedLoads(manual.load);
    const results = Promise.all([loads.load('a'), loads.load('a'), loads.load('a')]);
    await settle();
    expect(manual.started).toHaveLength(1);
    manual.started[0]!.finish(1);
    expect(await results).toEqual([1, 1, 1]);
  });

  it('a caller that asks while a load runs gets the next one, started after it finished, shared with later callers', async () => {
    const manual = new ManualLoads();
    const loads = new SharedLoads(manual.load);
    const first = loads.load('a');
    await settle();
    const second = loads.load('a');
    const third = loads.load('a');
    await settle();
    expect(manual.started).toHaveLength(1); // the second waits for the first to end

    manual.started[0]!.finish(1);
    await settle();
    expect(manual.started).toHaveLength(2);
    manual.started[1]!.finish(2);
    expect(await Promise.all([first, second, third])).toEqual([1, 2, 2]);
  });

  it('keys are independent', async () => {
    const manual = new ManualLoads();
    const loads = new SharedLoads(manual.load);
    const results = Promise.all([loads.load('a'), loads.load('b')]);
    await settle();
    expect(manual.started.map((load) => load.key)).toEqual(['a', 'b']);
    manual.started[0]!.finish(1);
    manual.started[1]!.finish(2);
    expect(await results).toEqual([1, 2]);
  });

  it('a failed load fails its sharers only; the next caller loads again', async () => {
    const manual = new ManualLoads();
    const loads = new SharedLoads(manual.load);
    const failed = Promise.allSettled([loads.load('a'), loads.load('a')]);
    await settle();
    manual.started[0]!.fail(new Error('store down'));
    expect((await failed).map((result) => result.status)).toEqual(['rejected', 'rejected']);

    const again = loads.load('a');
    await settle();
    expect(manual.started).toHaveLength(2);
    manual.started[1]!.finish(3);
    expect(await again).toBe(3);
  });
});
