import type { EventStore, StoredEvent } from '../src/event-store';
import { exitOf, onLines, spawnTsChild, stderrOf } from './ts-child';

export interface Ack {
  readonly stream: string;
  readonly revision: number;
  readonly id: string;
}

/** Lets crash-child.ts append to the store (a SQLite file or a postgres:// URL) until it has acknowledged `acks` more events, then SIGKILLs it. */
export const appendUntilKilled = async (target: string, acks: number): Promise<Ack[]> => {
  const child = spawnTsChild('crash-child.ts', [target]);
  const stderr = stderrOf(child);
  const acknowledged: Ack[] = [];
  onLines(child.stdout, (line) => {
    const [stream = '', revision = '', id = ''] = line.split(' ');
    acknowledged.push({ stream, revision: Number(revision), id });
    if (acknowledged.length >= acks) child.kill('SIGKILL');
  });
  const exit = await exitOf(child);
  if (exit.signal !== 'SIGKILL') throw new Error(`The writer ended by itself (exit code ${exit.code}): ${stderr()}`);
  return acknowledged;
};

/**
 * What a store must show after its writer was killed: every acknowledged append where it was
 * acknowledged, positions strictly increasing, whole streams without gaps, and a new append taken
 * at the next revision. `round` marks the append made after the kill.
 */
export const expectSurvivedTheKill = async (store: EventStore, acknowledged: readonly Ack[], round: number): Promise<void> => {
  const stored = new Map<string, StoredEvent>();
  let previous = 0n;
  for await (const event of store.readAll()) {
    expect(event.position).toBeGreaterThan(previous);
    previous = event.position;
    stored.set(event.id, event);
  }
  const lost = acknowledged.filter(
    ({ stream, revision, id }) => stored.get(id)?.streamName !== stream || stored.get(id)?.revision !== revision,
  );
  expect(lost).toEqual([]);

  // Whatever made it in beyond the acknowledgements forms whole streams, without gaps.
  for (let s = 0; s < 7; s += 1) {
    const revisions: number[] = [];
    for await (const event of store.readStream(`crash-${s}`)) revisions.push(event.revision);
    expect(revisions).toEqual(revisions.map((_, index) => index));
    await expect(store.streamRevision(`crash-${s}`)).resolves.toBe(revisions.length - 1);
  }

  const revision = await store.streamRevision('crash-0');
  await expect(
    store.appendToStream('crash-0', [{ type: 'AfterTheCrash', data: { round } }], { expectedRevision: revision ?? 'no_stream' }),
  ).resolves.toMatchObject({ nextExpectedRevision: (revision ?? -1) + 1 });
};
