import type { BatchStatus } from '@flotilla/domain';
import type { EventStore } from '@flotilla/event-store';
import { BatchQueries, type BatchView } from '@flotilla/projections';
import { StateDb } from '@flotilla/state';
import { projectionNamed, runProjection } from './projections';
import { alignedTable } from './table';

const PAGE = 1000;

/**
 * Every batch, newest first, from the batch-summary read model: the service's state file when there
 * is one here, else a summary rebuilt in memory from the store (slower, but it needs nothing but
 * the store, e.g. next to EventStoreDB without the ingest API's volume).
 */
export const listBatches = async (store: EventStore, statePath: string | null, status: BatchStatus | undefined): Promise<BatchView[]> => {
  const db = statePath === null ? new StateDb(':memory:') : new StateDb(statePath);
  try {
    if (statePath === null)
      for (const name of ['batch-summary', 'workflow-costs'])
        await runProjection(store, db, projectionNamed(name), {
          progress: { start: () => undefined, update: () => undefined, stop: () => undefined },
        });
    const queries = new BatchQueries(db);
    const batches: BatchView[] = [];
    let cursor: string | undefined;
    do {
      const page = queries.listBatches({
        ...(status === undefined ? {} : { status }),
        limit: PAGE,
        ...(cursor === undefined ? {} : { cursor }),
      });
      batches.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return batches;
  } finally {
    db.close();
  }
};

export const batchesTable = (batches: readonly BatchView[]): string[] =>
  alignedTable(
    ['ID', 'NAME', 'STATUS', 'WORKFLOW', 'TRIGGERED', 'COMPLETED', 'FAILED', 'CREATED'],
    batches.map((batch) => [
      batch.id,
      batch.name,
      batch.status + (batch.heldBy ? ' (held)' : ''),
      `${batch.workflowId}@${batch.workflowVersion}`,
      `${batch.progress.triggered}/${batch.progress.total}`,
      String(batch.progress.completed),
      String(batch.progress.failed),
      batch.createdAt,
    ]),
  );
