import { parentPort, workerData } from 'node:worker_threads';
import { StateDb } from '@flotilla/state';
import { BatchQueries } from './batch-queries';

/**
 * The worker thread of WavesReader: its own connection to the process's state database (WAL lets
 * it read while the projections write on the main thread), answering `{ id, batchId }` with
 * `{ id, view }` or `{ id, error }`.
 */
const queries = new BatchQueries(new StateDb((workerData as { path: string }).path));
parentPort?.on('message', ({ id, batchId }: { id: number; batchId: string }) => {
  try {
    parentPort?.postMessage({ id, view: queries.waves(batchId) });
  } catch (error) {
    parentPort?.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
