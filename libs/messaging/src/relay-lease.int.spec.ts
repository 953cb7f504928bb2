import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '@flotilla/event-store';
import { RelayLease, relayLeaseStream } from './relay-lease';

/** The relay lease on a real SQLite store file, with a clock the test moves. */
describe('RelayLease', () => {
  const directory = mkdtempSync(join(tmpdir(), 'flotilla-relay-lease-'));
  let store: SqliteEventStore;
  let now: number;
  const clock = () => now;
  const lease = (holder: string) => new RelayLease(store, 'events', { holder, ttlMs: 10_000, now: clock });

  beforeEach(() => {
    store = new SqliteEventStore(join(directory, `${Date.now()}-${Math.random()}.sqlite`));
    now = 1_000_000;
  });
  afterEach(() => store.close());
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('is held by one of two relays; the other takes it only once it expires, and resumes from what the holder had published', async () => {
    const a = lease('a');
    const b = lease('b');
    expect(await a.acquireOrRenew(null)).toBe(true);
    expect(await b.acquireOrRenew(null)).toBe(false);
    expect({ a: a.isHeld, b: b.isHeld }).toEqual({ a: true, b: false });

    now += 3_000;
    expect(await a.acquireOrRenew(42n)).toBe(true);
    now += 9_999;
    expect(await b.acquireOrRenew(null)).toBe(false);
    expect(b.publishedUpTo).toBe(42n);

    // a dies: nobody renews, and 10 s after its last renewal b takes over.
    now += 2;
    expect(await b.acquireOrRenew(null)).toBe(true);
    expect(b.publishedUpTo).toBe(42n);
    expect(a.isHeld).toBe(false);
    // a comes back (a long pause, not a death): it finds b holding and stands by.
    expect(await a.acquireOrRenew(50n)).toBe(false);
    expect(a.isHeld).toBe(false);
  });

  it('lets exactly one of two relays racing for a free lease win', async () => {
    const contenders = ['a', 'b', 'c', 'd'].map(lease);
    const won = await Promise.all(contenders.map((contender) => contender.acquireOrRenew(null)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(contenders.filter((contender) => contender.isHeld)).toHaveLength(1);
  });

  it('is given up on release, so a standby takes it at once; the released position is kept', async () => {
    const a = lease('a');
    const b = lease('b');
    expect(await a.acquireOrRenew(7n)).toBe(true);
    await a.release(9n);
    expect(a.isHeld).toBe(false);
    expect(await b.acquireOrRenew(null)).toBe(true);
    expect(b.publishedUpTo).toBe(9n);
    const revisions: number[] = [];
    for await (const event of store.readStream(relayLeaseStream('events'))) revisions.push(event.revision);
    expect(revisions).toEqual([0, 1, 2]);
  });

  it('expires on the holder itself: past its TTL without a renewal, it must not publish', async () => {
    const a = lease('a');
    expect(await a.acquireOrRenew(null)).toBe(true);
    now += 10_000;
    expect(a.isHeld).toBe(false);
    // Nobody else took it: renewing takes it again.
    expect(await a.acquireOrRenew(null)).toBe(true);
  });
});
