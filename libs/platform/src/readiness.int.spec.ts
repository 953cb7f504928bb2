import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '@flotilla/event-store';
import { Relay, createKafka } from '@flotilla/messaging';
import { CheckpointStore, StateDb } from '@flotilla/state';
import { Readiness } from './readiness';

/** Readiness over real parts: SQLite store files, a Kafka client pointed at a port nobody listens on. */
describe('Readiness', () => {
  const directory = mkdtempSync(join(tmpdir(), 'flotilla-readiness-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  /** A loopback port that was free a moment ago: nobody listens on it. */
  const freePort = () =>
    new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
  const storeFile = (name: string) => new SqliteEventStore(join(directory, `${name}.sqlite`));
  const unreachableKafka = async () =>
    createKafka({ brokers: [`127.0.0.1:${await freePort()}`], clientId: 'readiness-test', log: () => undefined, retries: 0 });

  it('is ready when the store answers, with no broker or relay to check in embedded mode', async () => {
    const store = storeFile('ready');
    try {
      expect(await new Readiness(store, null, null, 1000).report()).toEqual({ status: 'ready', checks: { store: { ok: true } } });
    } finally {
      await store.close();
    }
  });

  it('is not ready while the store cannot be read, and says so', async () => {
    const store = storeFile('closed');
    await store.close();
    const report = await new Readiness(store, null, null, 1000).report();
    expect(report.status).toBe('not_ready');
    expect(report.checks['store']).toMatchObject({ ok: false, error: expect.any(String) });
  });

  it('is not ready while the broker cannot be reached, naming the broker, within the probe timeout', async () => {
    const store = storeFile('no-broker');
    const readiness = new Readiness(store, await unreachableKafka(), null, 1000);
    try {
      const started = Date.now();
      const report = await readiness.report();
      expect(Date.now() - started).toBeLessThan(5000);
      expect(report).toEqual({
        status: 'not_ready',
        checks: { store: { ok: true }, broker: { ok: false, error: expect.stringMatching(/Kafka broker/) } },
      });
    } finally {
      await readiness.close();
      await store.close();
    }
  });

  it('is not ready while the relay is more events behind than allowed, with its role and lag', async () => {
    const store = storeFile('lagging');
    const stateDb = new StateDb(join(directory, 'lagging-state.sqlite'));
    try {
      for (let i = 0; i < 5; i++) await store.appendToStream(`batch-b${i}`, [{ type: 'Noted', data: { i } }]);
      const relay = new Relay(store, await unreachableKafka(), { brokers: [], clientId: 'relay' }, new CheckpointStore(stateDb));
      const behind = await new Readiness(store, null, relay, 3).report();
      expect(behind).toEqual({
        status: 'not_ready',
        checks: {
          store: { ok: true },
          relay: { ok: false, role: 'standby', lag: 4, error: 'The relay is more than 3 events behind the store' },
        },
      });
      const within = await new Readiness(store, null, relay, 5).report();
      expect(within).toEqual({ status: 'ready', checks: { store: { ok: true }, relay: { ok: true, role: 'standby', lag: 5 } } });
    } finally {
      stateDb.close();
      await store.close();
    }
  });
});
