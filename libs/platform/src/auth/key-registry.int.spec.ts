import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '@flotilla/event-store';
import { KeyRegistry } from './key-registry';
import { hashKey } from './keys';

/**
 * Two processes' registries over one store file (as the ingest-api and another API process share
 * it): a key made through one authenticates through the other, and a revocation through one is
 * refused by the other within a second.
 */
describe('KeyRegistry across processes', () => {
  const directory = mkdtempSync(join(tmpdir(), 'flotilla-keys-'));
  const stores = [0, 1].map(() => new SqliteEventStore(join(directory, 'events.sqlite'), { pollIntervalMs: 50 }));
  const [here, there] = stores.map((store) => new KeyRegistry(store)) as [KeyRegistry, KeyRegistry];
  const now = new Date('2026-12-02T12:00:00Z');

  beforeAll(async () => {
    await here.onModuleInit();
    await there.onModuleInit();
  });

  afterAll(async () => {
    await here.onModuleDestroy();
    await there.onModuleDestroy();
    for (const store of stores) await store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  const within = async (ms: number, done: () => boolean): Promise<number> => {
    const started = Date.now();
    while (!done()) {
      if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return Date.now() - started;
  };

  it('stores only the hash, and sees the other process create and revoke a key within a second', async () => {
    const created = await here.create({ team: 'alpha', role: 'submitter', name: 'ci', actor: 'default/admin', now });
    if (created === undefined) throw new Error('not created');
    expect(created.key).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect(created.record.hash).toBe(hashKey(created.key));
    expect(JSON.stringify(created.record)).not.toContain(created.key);
    expect(here.authenticate(created.key)).toEqual({ keyId: created.record.id, team: 'alpha', role: 'submitter', name: 'ci' });

    await within(1_000, () => there.authenticate(created.key) !== undefined);
    await here.revoke(created.record.id, 'default/admin', now);
    expect(here.authenticate(created.key)).toBeUndefined();
    expect(await within(1_000, () => there.authenticate(created.key) === undefined)).toBeLessThan(1_000);
    expect(there.list().find((key) => key.id === created.record.id)?.revokedAt).toBe(now.toISOString());
  });

  it('creates a fixed-id key once when two processes race for it', async () => {
    const input = { team: 'default', role: 'admin' as const, name: 'admin', actor: 'flotilla', now };
    const results = await Promise.all([here.create(input, 'key_race'), there.create(input, 'key_race')]);
    expect(results.filter((result) => result !== undefined)).toHaveLength(1);
    expect(here.authenticate('flt_guess')).toBeUndefined();
  });
});
