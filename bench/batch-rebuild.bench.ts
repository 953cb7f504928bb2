/**
 * How long it takes to rebuild the state of a large batch from its event stream (cold: a new
 * repository with an empty cache reads the whole decision stream and folds it).
 *
 * Each batch has run to completion: N items, N ExecutionTriggered and N ExecutionCompleted events,
 * plus its lifecycle and wave events, so the stream is about 2N events long.
 *
 *   node -r ./scripts/swc-register.cjs bench/batch-rebuild.bench.ts [items...]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchCommandHandler, ItemsWriter, SNAPSHOT_EVERY, batchSnapshotStream, batchStream } from '@flotilla/application';
import { isBatch, type BatchCommand, type BatchState } from '@flotilla/domain';
import { SqliteEventStore } from '@flotilla/event-store';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const itemCounts = sizes.length > 0 ? sizes : [100_000, 1_000_000];

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

async function prepare(store: SqliteEventStore, batchId: string, total: number): Promise<number> {
  const items = new ItemsWriter(store, batchId);
  for (let i = 0; i < total; i++) await items.add({ inputs: { email: `user${i}@example.com`, n: String(i) }, profile: 'default' });
  const location = await items.finish();
  const repository = new BatchCommandHandler(store);
  const now = new Date();
  await repository.handle(batchId, {
    type: 'CreateBatch',
    batchId,
    settings: {
      name: `bench ${total}`,
      workflowId: 'bench',
      workflowVersion: 1,
      startAt: new Date(now.getTime() - 3_600_000).toISOString(),
      maxConcurrent: 1000,
      batchIntervalSeconds: 1,
      priority: 50,
      metadata: {},
      // Every wave is declared at once below: today's burst, not a catch-up re-plan.
      catchUp: 'burst',
    },
    total,
    items: location,
    actor: 'bench',
    now,
  });
  await repository.handle(batchId, { type: 'DeclareDueWaves', batchId, now, maxWaves: Number.MAX_SAFE_INTEGER });
  for (let state = await repository.load(batchId); state.status === 'running';) {
    ({ state } = await repository.handle(batchId, { type: 'TriggerDueExecutions', batchId, now, limit: 1000 }));
  }
  // Outcomes as the executor records them: in groups, through the repository.
  for (let from = 0; from < total; from += 1000) {
    const outcomes: BatchCommand[] = [];
    for (let index = from; index < Math.min(total, from + 1000); index++) {
      outcomes.push({ type: 'RecordExecutionCompleted', batchId, index, output: { ok: true }, attempts: 1, now });
    }
    await repository.handleAll(batchId, outcomes);
  }
  return ((await store.streamRevision(batchStream(batchId))) ?? -1) + 1;
}

async function main(): Promise<void> {
  console.log('Rebuilding the state of a completed batch from its stream (embedded SQLite store)');
  console.log('items\tevents\tfull replay s\tevents/s\tsnapshot+tail s\ttail events\tworst tail s\theap MB');
  for (const total of itemCounts) {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-rebuild-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'), { durability: 'normal' });
    try {
      const batchId = `bat_bench${total}`;
      const events = await prepare(store, batchId, total);
      const check = (state: BatchState): void => {
        if (!isBatch(state) || state.status !== 'completed' || state.counts.completed !== total) {
          throw new Error(`rebuilt state is wrong: ${JSON.stringify(isBatch(state) ? state.counts : state)}`);
        }
      };
      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      let started = performance.now();
      check(await new BatchCommandHandler(store, { snapshotEvery: 0 }).load(batchId));
      const replayMs = performance.now() - started;
      const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
      started = performance.now();
      check(await new BatchCommandHandler(store).load(batchId));
      const snapshotMs = performance.now() - started;
      let snapshotRevision = -1;
      for await (const event of store.readStream(batchSnapshotStream(batchId), { direction: 'backwards', maxCount: 1 })) {
        snapshotRevision = (event.data as { revision: number }).revision;
      }
      const rate = events / (replayMs / 1000);
      console.log(
        [
          total,
          events,
          seconds(replayMs),
          Math.round(rate),
          seconds(snapshotMs),
          events - 1 - snapshotRevision,
          seconds((SNAPSHOT_EVERY / rate) * 1000 + snapshotMs),
          heapMb.toFixed(1),
        ].join('\t'),
      );
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`(worst tail: a snapshot is taken every ${SNAPSHOT_EVERY} events, so a cold load folds at most that many after it)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
