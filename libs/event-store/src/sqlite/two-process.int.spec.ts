import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredEvent } from '../event-store';
import { exitOf, onLines, spawnTsChild, stderrOf } from '../../test-fixtures/ts-child';
import { SqliteEventStore } from './sqlite-event-store';

const directory = mkdtempSync(join(tmpdir(), 'flotilla-two-process-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const APPENDS_PER_PROCESS = 200;

interface Outcome {
  readonly label: string;
  readonly appended: number;
  readonly conflicts: number;
  readonly attempts: number;
}

describe('SQLite store shared by two processes', () => {
  it('serializes their concurrent appends on one stream and shows them to a subscriber in a third process', async () => {
    const path = join(directory, 'shared.sqlite');
    const stream = 'counter-1';
    // Created here first, so the children open an existing file.
    const store = new SqliteEventStore(path, { pollIntervalMs: 10 });
    const delivered: StoredEvent[] = [];
    const subscription = store.subscribeToAll(
      { filter: { streamPrefixes: [stream] } },
      { onEvents: (events) => void delivered.push(...events) },
    );
    await subscription.caughtUp;

    try {
      const ready = new Set<string>();
      const children = ['A', 'B'].map((label) => {
        const child = spawnTsChild('two-process-child.ts', [path, stream, label, String(APPENDS_PER_PROCESS)]);
        const stderr = stderrOf(child);
        const outcome = new Promise<Outcome>((resolve) =>
          onLines(child.stdout, (line) => {
            if (line === 'ready') {
              ready.add(label);
              // Both start together, so that their appends really overlap.
              if (ready.size === 2) for (const other of children) other.child.stdin.end('go\n');
            } else resolve(JSON.parse(line) as Outcome);
          }),
        );
        return { child, stderr, outcome };
      });

      for (const { child, stderr } of children) {
        const exit = await exitOf(child);
        if (exit.code !== 0) throw new Error(`A writer failed (exit ${exit.code ?? exit.signal}): ${stderr()}`);
      }
      const outcomes = await Promise.all(children.map(({ outcome }) => outcome));

      for (const outcome of outcomes) {
        expect(outcome.appended).toBe(APPENDS_PER_PROCESS);
        expect(outcome.attempts).toBe(outcome.appended + outcome.conflicts);
      }
      // Evidence that the writers did overlap: some appends were refused and retried.
      expect(outcomes.reduce((sum, outcome) => sum + outcome.conflicts, 0)).toBeGreaterThan(0);

      const events: StoredEvent[] = [];
      for await (const event of store.readStream(stream)) events.push(event);
      expect(events.map((event) => event.revision)).toEqual(Array.from({ length: 2 * APPENDS_PER_PROCESS }, (_, index) => index));
      expect(new Set(events.map((event) => event.id)).size).toBe(2 * APPENDS_PER_PROCESS);
      for (const label of ['A', 'B']) {
        const counted = events.flatMap((event) => {
          const data = event.data as { by: string; n: number };
          return data.by === label ? [data.n] : [];
        });
        expect(counted).toEqual(Array.from({ length: APPENDS_PER_PROCESS }, (_, index) => index));
      }

      const deadline = Date.now() + 10_000;
      while (delivered.length < events.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(delivered.map((event) => event.id)).toEqual(events.map((event) => event.id));
    } finally {
      await subscription.stop();
      await store.close();
    }
  }, 120_000);
});
