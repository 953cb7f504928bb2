/**
 * Appends without pause until it is killed, and acknowledges every event of every append that returned,
 * one line each on stdout: `<stream> <revision> <id>`. Run by src/sqlite/crash.int.spec.ts and src/postgres/crash.int.spec.ts:
 *   node -r scripts/swc-register.cjs libs/event-store/test-fixtures/crash-child.ts <sqlite file | postgres:// URL>
 */
import { randomUUID } from 'node:crypto';
import { openEventStore } from '../src/open-event-store';

const run = async (path: string): Promise<void> => {
  // A SQLite file, or a postgres:// URL: the same store the services would open for it.
  const store = await openEventStore(path);
  for (let i = 0; ; i += 1) {
    const stream = `crash-${i % 7}`;
    // Mostly single events, every fourth append a batch of up to 9.
    const count = i % 4 === 0 ? 1 + (i % 9) : 1;
    const events = Array.from({ length: count }, (_, k) => ({ id: randomUUID(), type: 'Ticked', data: { i, k } }));
    const { nextExpectedRevision } = await store.appendToStream(stream, events);
    const first = nextExpectedRevision - count + 1;
    // One write per append, well under PIPE_BUF: the acknowledgements of an append arrive whole or not at all.
    process.stdout.write(events.map((event, k) => `${stream} ${first + k} ${event.id}\n`).join(''));
  }
};

const [path] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: crash-child.ts <sqlite file | postgres:// URL>');
run(path).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
