import { OrderedWindow, type Settle } from './ordered-window';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('OrderedWindow, deferred work', () => {
  it('a deferred entry counts against the capacity until settled, and the commit passes it only when done', async () => {
    const commits: bigint[] = [];
    const window = new OrderedWindow(2, (position) => commits.push(position));
    const settles: Settle[] = [];
    const started: number[] = [];
    const work = (n: number) => async (defer: () => Settle) => {
      started.push(n);
      settles[n] = defer();
    };
    await window.push(1n, null, work(0));
    await window.push(2n, null, work(1));
    const third = window.push(3n, null, work(2));
    await tick();
    expect(started).toEqual([0, 1]);
    expect(commits).toEqual([]);

    settles[1]!('done');
    await third;
    await tick();
    expect(started).toEqual([0, 1, 2]);
    // 2 is done but 1 is not: nothing is committed past it.
    expect(commits).toEqual([]);
    settles[0]!('done');
    expect(commits).toEqual([2n]);
    settles[2]!('failed');
    window.mark(4n);
    expect(commits).toEqual([2n]);
    await window.drain();
  });

  it('once deferred, the failure of the work decides nothing; settling twice counts once; onDone runs before the commit', async () => {
    const events: string[] = [];
    const window = new OrderedWindow(1, (position) => events.push(`commit ${position}`));
    let settle: Settle = () => undefined;
    await window.push(
      1n,
      null,
      async (defer) => {
        settle = defer();
        throw new Error('after deferring');
      },
      () => events.push('done'),
    );
    await tick();
    expect(events).toEqual([]);
    settle('done');
    settle('failed');
    expect(events).toEqual(['done', 'commit 1']);
    await window.drain();
  });
});
