import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { OutboundRules, type OutboundSettings } from '@flotilla/platform/outbound';
import { TargetClient, type CallResult, type TargetCalls, type TargetRequest } from './target-client';

/** What the call thread is made with: plain data, since it crosses to the worker. */
export interface ThreadedTargetClientOptions {
  readonly maxSocketsPerOrigin: number;
  readonly maxResponseBytes?: number;
  readonly outbound?: OutboundSettings;
}

/** To the worker: a call to make (`[id, request]`) or one to drop (`[id, null]`, its signal aborted). */
export type CallOrder = readonly [id: number, request: TargetRequest | null];
/** From the worker: what a call came to (`[id, result]`), or why it could not be made (`[id, null, message]`). */
export type CallReport = readonly [id: number, result: CallResult | null, error?: string];
/** The worker's first message, once it listens: no call was made before it. */
export const CALL_THREAD_READY = 'ready';

/**
 * Gathers what one turn of the event loop produces and hands it on at the next, as one message:
 * a postMessage per call would cost more than the call's HTTP does.
 */
export class TurnBatcher<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(private readonly send: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const items = this.items;
      this.items = [];
      this.send(items);
    });
  }
}

interface PendingCall {
  readonly request: TargetRequest;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: CallResult) => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
}

/** The worker is this file's sibling in whatever form this runs: .js when built, .ts from the sources. */
const WORKER_FILE = join(__dirname, `target-calls.worker${extname(__filename)}`);
/** From the sources under a runner that transpiles in-process (jest), the worker needs the loader the product's child processes use. */
const SWC_REGISTER = join(__dirname, '../../../scripts/swc-register.cjs');

/**
 * `TargetClient` on a worker thread of its own. The executor's one event loop also runs the appends,
 * the transport, the projections and the API; the HTTP client's work per call (the request, the
 * socket's reads and writes, the response's parsing) is moved off it, and what crosses is one
 * message per turn each way. The calls are made exactly as `TargetClient` makes them (it is the
 * same class, with the same rules, in the worker).
 *
 * If the worker cannot start, the calls are made on this thread instead, the ones already asked
 * included (none of them was made). If it stops after it started, the calls it was making end as
 * connection failures (each may or may not have reached its target, as with a connection cut) and
 * the later ones are made on this thread. `onWorkerFailure` hears of either, for the log.
 */
export class ThreadedTargetClient implements TargetCalls {
  private worker: Worker | null = null;
  private ready = false;
  private inline: TargetClient | null = null;
  private closed = false;
  private nextId = 0;
  private readonly pending = new Map<number, PendingCall>();
  private readonly orders: TurnBatcher<CallOrder>;

  constructor(
    private readonly options: ThreadedTargetClientOptions,
    private readonly onWorkerFailure?: (error: Error) => void,
    workerFile = WORKER_FILE,
  ) {
    this.orders = new TurnBatcher((orders) => this.worker?.postMessage(orders));
    this.worker = this.startWorker(workerFile);
  }

  call(request: TargetRequest, signal?: AbortSignal): Promise<CallResult> {
    if (this.closed) return Promise.reject(new Error('The target client is closed'));
    if (this.worker === null) return this.inlineClient().call(request, signal);
    return new Promise<CallResult>((resolve, reject) => {
      signal?.throwIfAborted();
      const id = this.nextId++;
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return;
        this.orders.push([id, null]);
        this.idleCheck();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // The worker keeps the process alive only while it has calls to make.
      if (this.pending.size === 0) this.worker?.ref();
      this.pending.set(id, { request, signal, resolve, reject, onAbort });
      this.orders.push([id, request]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    for (const call of this.takeAll()) call.reject(new Error('The target client was closed before the call ended'));
    this.inline?.close();
    await worker?.terminate();
  }

  private startWorker(file: string): Worker | null {
    if (!existsSync(file)) {
      this.onWorkerFailure?.(new Error(`No call worker at ${file}`));
      return null;
    }
    const fromSources = extname(file) === '.ts' && !process.execArgv.some((arg) => arg.includes('swc-register'));
    const worker = new Worker(file, {
      workerData: this.options,
      // V8's default young generation for a worker let the executor's process grow by about 100 MB at
      // full rate (the million: 606-613 MB against 484); 24 MB kept it at 516-520 MB, no slower.
      resourceLimits: { maxYoungGenerationSizeMb: 24 },
      ...(fromSources ? { execArgv: [...process.execArgv, '-r', SWC_REGISTER] } : {}),
    });
    worker.unref();
    worker.on('message', (message: typeof CALL_THREAD_READY | CallReport[]) => {
      if (message === CALL_THREAD_READY) this.ready = true;
      else this.report(message);
    });
    worker.on('error', (error) => this.fail(worker, error));
    worker.on('exit', (code) => this.fail(worker, new Error(`The call worker exited with code ${code}`)));
    return worker;
  }

  private report(reports: readonly CallReport[]): void {
    for (const [id, result, error] of reports) {
      const call = this.take(id);
      if (call === undefined) continue;
      if (result !== null) call.resolve(result);
      else call.reject(new Error(error));
    }
    this.idleCheck();
  }

  private fail(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.onWorkerFailure?.(error);
    for (const call of this.takeAll()) {
      // A worker that never listened made none of the calls asked of it: they are made here.
      if (!this.ready) this.inlineClient().call(call.request, call.signal).then(call.resolve, call.reject);
      else
        call.resolve({
          kind: 'failure',
          reason: 'connection',
          error: `the executor's call thread stopped during the call (${error.message})`,
        });
    }
  }

  /** The call `id` off the pending ones, its abort no longer listened to; undefined once it has ended. */
  private take(id: number): PendingCall | undefined {
    const call = this.pending.get(id);
    if (call === undefined) return undefined;
    this.pending.delete(id);
    call.signal?.removeEventListener('abort', call.onAbort);
    return call;
  }

  private takeAll(): PendingCall[] {
    return [...this.pending.keys()].map((id) => this.take(id) as PendingCall);
  }

  private idleCheck(): void {
    if (this.pending.size === 0) this.worker?.unref();
  }

  private inlineClient(): TargetClient {
    return (this.inline ??= targetClientOf(this.options));
  }
}

/** The client the worker makes its calls with, and this thread when the worker is gone: one set of rules. */
export const targetClientOf = ({ maxSocketsPerOrigin, maxResponseBytes, outbound }: ThreadedTargetClientOptions): TargetClient =>
  new TargetClient({
    maxSocketsPerOrigin,
    ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
    ...(outbound === undefined ? {} : { outbound: new OutboundRules(outbound) }),
  });
