import { parentPort, workerData } from 'node:worker_threads';
import {
  CALL_THREAD_READY,
  TurnBatcher,
  targetClientOf,
  type CallOrder,
  type CallReport,
  type ThreadedTargetClientOptions,
} from './threaded-target-client';

/**
 * The worker thread of ThreadedTargetClient: makes the calls it is sent with a TargetClient of its
 * own and reports what each came to, a turn's reports in one message. A call whose order to drop
 * comes (its signal aborted on the executor's thread) is aborted here and reported no more.
 */
const client = targetClientOf(workerData as ThreadedTargetClientOptions);
const port = parentPort;
if (port === null) throw new Error('target-calls.worker runs as a worker thread');
const reports = new TurnBatcher<CallReport>((batch) => port.postMessage(batch));
const calling = new Map<number, AbortController>();

port.on('message', (orders: readonly CallOrder[]) => {
  for (const [id, request] of orders) {
    if (request === null) {
      calling.get(id)?.abort();
      calling.delete(id);
      continue;
    }
    const abort = new AbortController();
    calling.set(id, abort);
    client.call(request, abort.signal).then(
      (result) => calling.delete(id) && reports.push([id, result]),
      (error: unknown) => calling.delete(id) && reports.push([id, null, error instanceof Error ? error.message : String(error)]),
    );
  }
});
port.postMessage(CALL_THREAD_READY);
