/**
 * Two processes (two-process-child.ts) appending to one stream with optimistic concurrency, and a subscriber
 * in this process: the scenario of src/sqlite/two-process.int.spec.ts and src/postgres/two-process.int.spec.ts.
 */
import type { EventStore, StoredEvent } from '../src/event-store';
import { exitOf, onLines, spawnTsChild, stderrOf } from './ts-child';

interface Outcome {
  readonly label: string;
  readonly appended: number;
  readonly conflicts: number;
  readonly attempts: number;
}

/** `target` is what the children open (a SQLite file or a postgres:// URL); `store` is this process's view of it. */
export const twoWritersOnOneStream = async (target: string, store: EventStore, stream: string, appendsEach: number): Promise<void> => {
  const delivered: StoredEvent[] = [];
  const subscription = store.subscribeToAll(
    { filter: { streamPrefixes: [stream] } },
    { onEvents: (events) => void delivered.push(...events) },
  );
  await subscription.caughtUp;

  try {
    const ready = new Set<string>();
    const children = ['A', 'B'].map((label) => {
      const child = spawnTsChild('two-process-child.ts', [target, stream, label, String(appendsEach)]);
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
      expect(outcome.appended).toBe(appendsEach);
      expect(outcome.attempts).toBe(outcome.appended + outcome.conflicts);
    }
    // Evidence that the writers did overlap: some appends were refused and retried.
    expect(outcomes.reduce((sum, outcome) => sum + outcome.conflicts, 0)).toBeGreaterThan(0);

    const events: StoredEvent[] = [];
    for await (const event of store.readStream(stream)) events.push(event);
    expect(events.map((event) => event.revision)).toEqual(Array.from({ length: 2 * appendsEach }, (_, index) => index));
    expect(new Set(events.map((event) => event.id)).size).toBe(2 * appendsEach);
    for (const label of ['A', 'B']) {
      const counted = events.flatMap((event) => {
        const data = event.data as { by: string; n: number };
        return data.by === label ? [data.n] : [];
      });
      expect(counted).toEqual(Array.from({ length: appendsEach }, (_, index) => index));
    }

    const deadline = Date.now() + 10_000;
    while (delivered.length < events.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(delivered.map((event) => event.id)).toEqual(events.map((event) => event.id));
  } finally {
    await subscription.stop();
  }
};
