/**
 * One of two processes appending to the same stream with optimistic concurrency. Says `ready`, waits for a
 * line on stdin so that both start together, then makes `count` appends, each at the revision it has just
 * read, retrying after a conflict. Ends with one line of JSON: `{ label, appended, conflicts, attempts }`.
 * Run by src/sqlite/two-process.int.spec.ts and src/postgres/two-process.int.spec.ts:
 *   node -r scripts/swc-register.cjs libs/event-store/test-fixtures/two-process-child.ts <sqlite file | postgres:// URL> <stream> <label> <count>
 */
import { once } from 'node:events';
import { WrongExpectedRevisionError } from '../src/event-store';
import { openEventStore } from '../src/open-event-store';

const run = async (path: string, stream: string, label: string, count: number): Promise<void> => {
  // A SQLite file, or a postgres:// URL: the same store the services would open for it.
  const store = await openEventStore(path);
  process.stdout.write('ready\n');
  await once(process.stdin, 'data');
  process.stdin.destroy();

  let conflicts = 0;
  let attempts = 0;
  for (let n = 0; n < count;) {
    const revision = await store.streamRevision(stream);
    attempts += 1;
    try {
      await store.appendToStream(stream, [{ type: 'Counted', data: { by: label, n } }], { expectedRevision: revision ?? 'no_stream' });
      n += 1;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      conflicts += 1;
    }
  }
  await store.close();
  process.stdout.write(`${JSON.stringify({ label, appended: count, conflicts, attempts })}\n`);
};

const [path, stream, label, count] = process.argv.slice(2);
if (path === undefined || stream === undefined || label === undefined || count === undefined) {
  throw new Error('usage: two-process-child.ts <sqlite file | postgres:// URL> <stream> <label> <count>');
}
run(path, stream, label, Number(count)).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
