/**
 * Throughput of the embedded SQLite event store, on a temporary file:
 *   node -r ./scripts/swc-register.cjs bench/store.bench.ts [--events=1000000]
 * Prints one table. Targets: ≥ 50,000 events/s appending 100 events per append, ≥ 200,000 events/s reading all.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type NewEvent, type SqliteDurability } from '@flotilla/event-store';

const totalEvents = Number(process.argv.find((arg) => arg.startsWith('--events='))?.slice('--events='.length) ?? 1_000_000);
const directory = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
let files = 0;
const freshStore = (durability: SqliteDurability) => new SqliteEventStore(join(directory, `bench-${(files += 1)}.sqlite`), { durability });

/** About 150 bytes of JSON, the size of an item event of a batch. */
const itemEvent = (n: number): NewEvent => ({
  type: 'ItemCompleted',
  data: { batchId: 'b7f3c1e2-5d4a-4c8e-9a1b-2f6e8d0c4a37', item: n, output: { status: 200, url: `https://example.com/items/${n}` } },
  metadata: { actor: 'executor' },
});

interface Row {
  readonly scenario: string;
  readonly durability: SqliteDurability | '';
  readonly events: number;
  readonly seconds: number;
  readonly rate: number;
  readonly unit: string;
}
const rows: Row[] = [];

const measure = async (scenario: string, durability: Row['durability'], unit: string, work: () => Promise<number>): Promise<void> => {
  const started = process.hrtime.bigint();
  const count = await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  rows.push({ scenario, durability, events: count, seconds, rate: count / seconds, unit });
  console.error(`  ${scenario} (${durability || '-'}): ${Math.round(count / seconds).toLocaleString('en-US')} ${unit}`);
};

/** `appends` appends of `perAppend` events each, over 100 streams, each at its exact expected revision. */
const appendLoad = async (store: SqliteEventStore, appends: number, perAppend: number, streamPrefix: string): Promise<number> => {
  const revisions = new Map<string, number>();
  for (let i = 0; i < appends; i += 1) {
    const stream = `${streamPrefix}-${String(i % 100).padStart(2, '0')}`;
    const events = Array.from({ length: perAppend }, (_, k) => itemEvent(i * perAppend + k));
    const { nextExpectedRevision } = await store.appendToStream(stream, events, { expectedRevision: revisions.get(stream) ?? 'no_stream' });
    revisions.set(stream, nextExpectedRevision);
  }
  return appends;
};

const main = async (): Promise<void> => {
  console.error(`Temporary files in ${directory}`);
  for (const durability of ['full', 'normal'] as const) {
    const store = freshStore(durability);
    await measure('append, 1 event per append', durability, 'appends/s', () =>
      appendLoad(store, durability === 'full' ? 3_000 : 10_000, 1, 'single'),
    );
    await measure(
      'append, 100 events per append',
      durability,
      'events/s',
      async () => 100 * (await appendLoad(store, 1_000, 100, 'hundred')),
    );
    await store.close();
  }

  const big = freshStore('normal');
  await measure(
    `load ${totalEvents.toLocaleString('en-US')} events, 100 per append`,
    'normal',
    'events/s',
    async () => 100 * (await appendLoad(big, totalEvents / 100, 100, 'load')),
  );
  await measure('readAll over everything', '', 'events/s', async () => {
    let count = 0;
    for await (const event of big.readAll()) if (event.revision >= 0) count += 1;
    return count;
  });
  await measure('readAll, filter matching 1% of streams', '', 'events scanned/s', async () => {
    let matched = 0;
    for await (const event of big.readAll({ filter: { streamPrefixes: ['load-07'] } })) if (event.revision >= 0) matched += 1;
    if (matched === 0) throw new Error('The filter matched nothing');
    return totalEvents;
  });
  await measure('subscription catching up from the start', '', 'events/s', async () => {
    let count = 0;
    const subscription = big.subscribeToAll({ after: 'start' }, { onEvents: (events) => void (count += events.length) });
    await subscription.caughtUp;
    await subscription.stop();
    return count;
  });
  const bytes = statSync(join(directory, `bench-${files}.sqlite`)).size;
  await big.close();

  console.log(
    `\nSQLite event store, ${new Date().toISOString()}, Node ${process.version}, file of ` +
      `${(bytes / 2 ** 20).toFixed(0)} MiB for ${totalEvents.toLocaleString('en-US')} events\n`,
  );
  const table = rows.map((row) => [
    row.scenario,
    row.durability,
    row.events.toLocaleString('en-US'),
    row.seconds.toFixed(2),
    `${Math.round(row.rate).toLocaleString('en-US')} ${row.unit}`,
  ]);
  const header = ['scenario', 'durability', 'count', 'seconds', 'throughput'];
  const widths = header.map((title, column) => Math.max(title.length, ...table.map((cells) => cells[column]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => (column >= 2 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const cells of table) console.log(line(cells));
};

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(directory, { recursive: true, force: true }));
