import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StoredEvent } from '../event-store';
import { appendUntilKilled, type Ack } from '../../test-fixtures/crash-writer';
import { SqliteEventStore } from './sqlite-event-store';

const directory = mkdtempSync(join(tmpdir(), 'flotilla-crash-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('SQLite store, writer killed mid-stream', () => {
  it('keeps every acknowledged append, stays readable and accepts appends again, kill after kill', async () => {
    const path = join(directory, 'crash.sqlite');
    const acknowledged: Ack[] = [];

    for (let round = 1; round <= 3; round += 1) {
      acknowledged.push(...(await appendUntilKilled(path, 300)));

      const raw = new DatabaseSync(path);
      expect(raw.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
      raw.close();

      const store = new SqliteEventStore(path);
      try {
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
        ).resolves.toMatchObject({
          nextExpectedRevision: (revision ?? -1) + 1,
        });
      } finally {
        await store.close();
      }
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(900);
  }, 120_000);
});
