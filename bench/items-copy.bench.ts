/**
 * How the read model copies a batch's item chunks into `execution_items`, alone: CPU seconds of
 * this process for N chunks of 1,000 items shaped like the wide CSV of csv-intake.bench.ts (two
 * inputs, two metadata keys), each chunk in its own transaction of a state database on disk, with
 * the decode of the chunk's stored JSON counted as the subscription does it. Three ways, run
 * alternately:
 *  - projection: `BatchExecutionsProjection` as it is (JSON.parse of the event, a JSON.stringify of
 *    each item's inputs and metadata, 100 rows per INSERT);
 *  - json_each: one INSERT ... SELECT ... FROM json_each(?) per chunk over JSON.stringify of its items;
 *  - json_each raw: the same over the event's stored text, nothing decoded nor encoded in JS.
 *
 *   npm run build && node dist/bench/items-copy.bench.js [--chunks 300] [--rounds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BatchItem } from '@flotilla/domain';
import type { Recorded } from '@flotilla/event-store';
import { BatchExecutionsProjection } from '@flotilla/projections';
import { StateDb } from '@flotilla/state';
import { arg } from './support';

const chunks = Number(arg('chunks', '300'));
const rounds = Number(arg('rounds', '3'));

const COPY_FROM_JSON = (items: string): string =>
  `INSERT OR IGNORE INTO execution_items (batch_id, idx, inputs, profile, metadata)
   SELECT ?, ? + item.key, item.value -> '$.inputs', item.value ->> '$.profile',
     iif(item.value ->> '$.metadata' IS NULL, '{}', item.value -> '$.metadata')
   FROM json_each(?${items}) AS item`;

/** The stored text of each chunk event, as the event store holds it. */
const storedChunks = (batchId: string): string[] =>
  Array.from({ length: chunks }, (_, chunk) => {
    const fromIndex = chunk * 1000;
    const items: BatchItem[] = Array.from({ length: 1000 }, (_, k) => {
      const i = fromIndex + k;
      return {
        inputs: { email: `user${i}@example.com`, first_name: `Name${i}` },
        metadata: { company: `Company ${i % 1000}, Inc.`, customerId: `C-${100000 + i}` },
      };
    });
    return JSON.stringify({ batchId, fromIndex, items });
  });

type Way = 'projection' | 'json_each' | 'json_each raw';

const copy = (way: Way, texts: readonly string[], batchId: string, db: StateDb): void => {
  const projection = new BatchExecutionsProjection();
  texts.forEach((text, revision) => {
    db.transaction(() => {
      if (way === 'json_each raw') {
        // Only the index is read from the event: a real reader would take it from the row.
        return db.run(COPY_FROM_JSON(", '$.items'"), batchId, revision * 1000, text);
      }
      const data = JSON.parse(text) as { batchId: string; fromIndex: number; items: BatchItem[] };
      if (way === 'json_each') return db.run(COPY_FROM_JSON(''), batchId, data.fromIndex, JSON.stringify(data.items));
      const event = { type: 'BatchItemsChunkRecorded', data, position: BigInt(revision + 1) } as unknown as Recorded<
        Parameters<BatchExecutionsProjection['apply']>[0]
      >;
      projection.apply(event, db);
    });
  });
};

const main = (): void => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-items-copy-'));
  try {
    const texts = storedChunks('bat_items_copy_bench');
    console.log(`items copy: ${chunks} chunks of 1000 items (${(texts.reduce((n, t) => n + t.length, 0) / 1e6).toFixed(0)} MB of JSON)`);
    for (let round = 1; round <= rounds; round++) {
      for (const way of ['projection', 'json_each', 'json_each raw'] as const) {
        const db = new StateDb(join(dir, `${round}-${way.replace(' ', '-')}.sqlite`));
        const before = process.cpuUsage();
        copy(way, texts, 'bat_items_copy_bench', db);
        const used = process.cpuUsage(before);
        // The same rows whichever way: counted, and the length of their JSON text.
        const stored = db.get<{ n: number; text: number }>(
          'SELECT count(*) AS n, sum(length(inputs) + length(metadata)) AS text FROM execution_items',
        );
        db.close();
        const seconds = (used.user + used.system) / 1e6;
        console.log(`round ${round}\t${way}\t${seconds.toFixed(2)} s CPU\t${stored?.n} rows, ${stored?.text} characters of JSON`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

main();
