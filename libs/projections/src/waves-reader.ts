import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BatchQueries } from './batch-queries';
import type { WavesView } from './batch-views';

/** An answer is reused for this many times what it cost, and at least WAVES_FRESH_MIN_MS. */
export const WAVES_REUSE_FACTOR = 10;
export const WAVES_FRESH_MIN_MS = 1000;

interface Answer {
  readonly view: Promise<WavesView>;
  /** When the answer may no longer be reused; Infinity while it is being computed. */
  freshUntil: number;
}

/**
 * `GET /v1/batches/{id}/waves` off the event loop. Grouping a million executions by due time is a
 * scan of about 0.4 s in SQLite; on the API's one thread it would hold every other request back
 * for as long. A worker thread with its own connection to the state database runs it instead;
 * viewers of one batch share one query, and an answer is reused for WAVES_REUSE_FACTOR times what
 * it cost, so a chart of a running million costs at most about a tenth of a core whoever looks.
 * With the state database in memory (tests), or if the worker cannot start, the query runs here.
 */
export class WavesReader {
  private worker: Worker | null = null;
  private workerFailed = false;
  private nextId = 0;
  private readonly pending = new Map<number, { batchId: string; resolve: (view: WavesView) => void; reject: (error: unknown) => void }>();
  private readonly answers = new Map<string, Answer>();

  constructor(
    private readonly queries: BatchQueries,
    private readonly statePath: string,
    private readonly onWorkerFailure?: (error: Error) => void,
  ) {}

  read(batchId: string): Promise<WavesView> {
    const now = Date.now();
    const known = this.answers.get(batchId);
    if (known !== undefined && known.freshUntil > now) return known.view;
    const answer: Answer = { view: this.compute(batchId), freshUntil: Number.POSITIVE_INFINITY };
    this.answers.set(batchId, answer);
    answer.view.then(
      () => (answer.freshUntil = Date.now() + Math.max(WAVES_FRESH_MIN_MS, (Date.now() - now) * WAVES_REUSE_FACTOR)),
      () => this.answers.get(batchId) === answer && this.answers.delete(batchId),
    );
    // Answers of batches nobody asks about again are dropped, so the map stays small.
    for (const [id, old] of this.answers) if (old.freshUntil < now) this.answers.delete(id);
    return answer.view;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private compute(batchId: string): Promise<WavesView> {
    const worker = this.workerOrNull();
    if (worker === null) return Promise.resolve().then(() => this.queries.waves(batchId));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { batchId, resolve, reject });
      worker.postMessage({ id, batchId });
    });
  }

  private workerOrNull(): Worker | null {
    if (this.worker !== null) return this.worker;
    if (this.workerFailed || this.statePath === ':memory:') return null;
    // The worker is this file's sibling in whatever form this runs: .js when built, .ts from the
    // sources (the process's execArgv, its TypeScript loader included, is the worker's too).
    const worker = new Worker(join(__dirname, `waves.worker${extname(__filename)}`), { workerData: { path: this.statePath } });
    worker.unref();
    worker.on('message', ({ id, view, error }: { id: number; view?: WavesView; error?: string }) => {
      const waiter = this.pending.get(id);
      this.pending.delete(id);
      if (error !== undefined) waiter?.reject(new Error(error));
      else if (view !== undefined) waiter?.resolve(view);
    });
    worker.on('error', (error) => this.fail(worker, error));
    worker.on('exit', (code) => this.fail(worker, new Error(`The waves worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /**
   * A worker that failed is not started again: what it was asked is answered here, and so is every
   * query from then on. `error` is kept for the log.
   */
  private fail(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.workerFailed = true;
    this.onWorkerFailure?.(error);
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiting) {
      try {
        waiter.resolve(this.queries.waves(waiter.batchId));
      } catch (inline) {
        waiter.reject(inline);
      }
    }
  }
}
