import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { StartedKurrentDbContainer } from '@testcontainers/kurrentdb';
import { describeEventStoreContract } from '../testing';
import { EsdbEventStore } from './esdb-event-store';

/** Overridable so CI can pin what it pulls. */
const KURRENTDB_IMAGE = process.env['KURRENTDB_IMAGE'] ?? 'kurrentplatform/kurrentdb:25.0';

type Target =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'container'; readonly engine: string }
  | { readonly kind: 'none'; readonly reason: string };

/** An external server named by ESDB_URL, else a container if testcontainers finds an engine, else nothing. */
const chooseTarget = (): Target => {
  const url = process.env['ESDB_URL'];
  if (url) return { kind: 'url', url };
  const probe = spawnSync(process.execPath, [join(__dirname, '../../test-fixtures/container-runtime-probe.cjs')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  try {
    const verdict = JSON.parse(probe.stdout) as { available: true; engine: string } | { available: false; reason: string };
    return verdict.available ? { kind: 'container', engine: verdict.engine } : { kind: 'none', reason: verdict.reason };
  } catch {
    return {
      kind: 'none',
      reason: `the container engine probe failed: ${probe.error?.message ?? (probe.stderr.trim() || `exit code ${probe.status}`)}`,
    };
  }
};

const target = chooseTarget();

if (target.kind === 'none') {
  const skipped = `no ESDB_URL and no Docker engine (${target.reason})`;
  console.warn(`SKIPPED: EventStoreDB contract suite — ${skipped}`);
  // One visible entry in the report says that the contract did not run against EventStoreDB, and why.
  it(`EventStoreDB contract suite SKIPPED: ${skipped}`, () => {
    expect(target.reason).not.toBe('');
  });
} else {
  let container: StartedKurrentDbContainer | undefined;
  let connectionString = target.kind === 'url' ? target.url : undefined;

  beforeAll(async () => {
    if (target.kind !== 'container') return;
    // Loaded only when needed: without an engine the module has nothing to do.
    const { KurrentDbContainer } = await import('@testcontainers/kurrentdb');
    container = await new KurrentDbContainer(KURRENTDB_IMAGE).start();
    connectionString = container.getConnectionString();
  }, 300_000);

  afterAll(async () => {
    await container?.stop();
  });

  describeEventStoreContract(
    target.kind === 'url' ? 'EventStoreDB at ESDB_URL' : `EventStoreDB in a container (${KURRENTDB_IMAGE})`,
    async () => {
      if (connectionString === undefined) throw new Error('The EventStoreDB container did not start');
      return EsdbEventStore.fromConnectionString(connectionString);
    },
    undefined,
    // EventStoreDB checks event ids within a stream only (an idempotent re-append), never across streams.
    { uniqueIdsAcrossStreams: false },
  );
}
