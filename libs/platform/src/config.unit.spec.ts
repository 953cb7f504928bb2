import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config';

describe('configuration', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults to the embedded store and transport under DATA_DIR, one state file per service', () => {
    const config = loadConfig({ DATA_DIR: dir }, 'executor');
    expect(config).toMatchObject({
      port: 3000,
      eventStoreUrl: `sqlite:${join(dir, 'events.sqlite')}`,
      stateDbPath: join(dir, 'executor-state.sqlite'),
      transport: 'inprocess',
      publicUrl: 'http://127.0.0.1:3000',
    });
  });

  it('reads the distributed settings', () => {
    const config = loadConfig({ DATA_DIR: dir, TRANSPORT: 'kafka', KAFKA_BROKERS: 'a:9092, b:9092', EVENT_STORE: 'esdb://x:2113?tls=false', PORT: '8080' });
    expect(config).toMatchObject({ transport: 'kafka', kafkaBrokers: ['a:9092', 'b:9092'], eventStoreUrl: 'esdb://x:2113?tls=false', port: 8080 });
  });

  it('refuses an unknown transport', () => {
    expect(() => loadConfig({ DATA_DIR: dir, TRANSPORT: 'carrier-pigeon' })).toThrow('TRANSPORT must be inprocess or kafka, not carrier-pigeon');
  });
});
