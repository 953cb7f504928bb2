import { setImmediate as nextMacrotask, setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@flotilla/domain';
import type { GlobalPosition, StoredEvent, SubscribeOptions, Subscription, SubscriptionHandler } from './event-store';

/** `maxBatchSize` with its default, refused when it could never deliver anything. */
export const maxBatchSizeOf = (options: SubscribeOptions): number => {
  const size = options.maxBatchSize ?? 1000;
  if (!Number.isInteger(size) || size < 1) throw new Error(`maxBatchSize must be a positive integer, not ${size}`);
  return size;
};

/** A subscription's `caughtUp` promise: settled once, by whichever of catching up, failing or stopping comes first. */
export class CaughtUpSignal {
  readonly promise: Promise<void>;
  private settled = false;
  private resolvePromise!: () => void;
  private rejectPromise!: (error: unknown) => void;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolvePromise = resolve;
      this.rejectPromise = reject;
    });
    // Whoever never awaits `caughtUp` must not get an unhandled rejection when the subscription ends early.
    this.promise.catch(() => undefined);
  }

  get isSettled(): boolean {
    return this.settled;
  }

  resolve(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolvePromise();
  }

  reject(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectPromise(error);
  }
}

/** Settles `caughtUp` for a subscription that was stopped before it got there. */
export const stoppedBeforeCaughtUp = (): Error => new Error('The subscription was stopped before it caught up');

/** Without an onError the failure must not vanish: it is thrown like an 'error' event that nobody listens to. */
export const reportSubscriptionError = (handler: SubscriptionHandler, error: unknown): void => {
  if (handler.onError) {
    handler.onError(error);
    return;
  }
  setImmediate(() => {
    throw error;
  });
};

/**
 * Lets a subscription's loop sleep until something may have changed (new events, a marker, a
 * failure, a stop). A wake that comes while the loop is busy is not lost: the next sleep returns
 * at once. The loop calls `reset()` at the top of each pass, before it looks at what changed.
 */
export class WakeSignal {
  private woken = false;
  private sleeper: (() => void) | undefined;

  wake(): void {
    this.woken = true;
    this.sleeper?.();
  }

  reset(): void {
    this.woken = false;
  }

  async sleep(): Promise<void> {
    if (this.woken) return;
    await new Promise<void>((resolve) => {
      this.sleeper = resolve;
    });
    this.sleeper = undefined;
  }
}

/** One read of a subscription: what it delivers, and how far it has looked. */
export interface Page {
  readonly events: readonly StoredEvent[];
  /** Every position up to here has been looked at (delivered or filtered out). */
  readonly scannedTo: GlobalPosition;
  /** Nothing after `scannedTo` was stored when the page was read. */
  readonly atEnd: boolean;
}

export interface StartingPoint {
  readonly after: GlobalPosition;
  readonly caughtUpAt: GlobalPosition;
}

export interface PageSource {
  /** Events strictly after `after`, in global order; never an event that a later page could precede. */
  readPage(after: GlobalPosition): Page | Promise<Page>;
  /** Called once when the subscription has stopped, whatever the reason. */
  finished(): void;
  /**
   * A page read that failed this way is retried from the same position, with the product's backoff,
   * instead of ending the subscription (a store on a server: a dropped or refused connection).
   * Absent: every failure ends it (SQLite: a failed read is not a passing condition).
   */
  readonly retryable?: {
    readonly isTransient: (error: unknown) => boolean;
    readonly backoff: { readonly baseMs: number; readonly capMs: number };
    readonly log: (message: string) => void;
  };
}

/**
 * Catch-up then live delivery over a store read page by page (the SQLite and PostgreSQL stores). One loop
 * reads a page, hands it out in batches (awaiting the handler), and at the end sleeps until `wake()`: an
 * append in this process, a notification, or the store's poll.
 */
export class PagedSubscription implements Subscription {
  private readonly signal = new CaughtUpSignal();
  readonly caughtUp = this.signal.promise;
  private readonly done: Promise<void>;
  private stopping = false;
  /** Woken when something may have been appended since the last page was read. */
  private readonly wakeup = new WakeSignal();

  constructor(
    private readonly source: PageSource,
    private readonly options: {
      /**
       * Where delivery starts (exclusive), and the head when the subscription was opened: caught up once
       * delivery has passed it or a page was at the end. A promise when the head must first be read.
       */
      readonly from: StartingPoint | Promise<StartingPoint>;
      readonly maxBatchSize: number;
    },
    private readonly handler: SubscriptionHandler,
  ) {
    // Start on a later tick: the handler may use the subscription, which its caller does not hold yet.
    this.done = nextMacrotask().then(() => this.run());
  }

  wake(): void {
    this.wakeup.wake();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.done;
  }

  private async run(): Promise<void> {
    try {
      const { after, caughtUpAt } = await this.options.from;
      let position = after;
      while (!this.stopping) {
        this.wakeup.reset();
        const page = await this.readPage(position);
        if (page === undefined) break;
        for (let start = 0; start < page.events.length && !this.stopping; start += this.options.maxBatchSize) {
          const batch = page.events.slice(start, start + this.options.maxBatchSize);
          await this.handler.onEvents(batch);
          position = (batch[batch.length - 1] as StoredEvent).position;
          if (position >= caughtUpAt) this.signal.resolve();
        }
        if (this.stopping) break;
        if (position < page.scannedTo) {
          // Only a filter leaves scanned positions undelivered: report them so a stored checkpoint can move on.
          position = page.scannedTo;
          await this.handler.onCheckpoint?.(position);
        }
        if (page.atEnd || position >= caughtUpAt) this.signal.resolve();
        if (!page.atEnd) {
          await nextMacrotask();
        } else if (!this.stopping) {
          await this.wakeup.sleep();
        }
      }
      this.signal.reject(stoppedBeforeCaughtUp());
    } catch (error) {
      this.stopping = true;
      this.signal.reject(error);
      reportSubscriptionError(this.handler, error);
    } finally {
      this.source.finished();
    }
  }

  /** The next page, retrying the failures the source calls transient until it reads or the subscription stops (undefined). */
  private async readPage(position: GlobalPosition): Promise<Page | undefined> {
    const retryable = this.source.retryable;
    for (let failures = 1; ; failures++) {
      try {
        return await this.source.readPage(position);
      } catch (error) {
        if (retryable === undefined || !retryable.isTransient(error)) throw error;
        const delay = backoffDelay(failures, retryable.backoff, Math.random);
        retryable.log(
          `Reading events after position ${position} failed (${String(error)}); trying again in ${delay} ms (attempt ${failures})`,
        );
        // Until the delay is up, or sooner when woken (stop, or something new was appended).
        const pause = new AbortController();
        this.wakeup.reset();
        await Promise.race([sleep(delay, undefined, { signal: pause.signal }).catch(() => undefined), this.wakeup.sleep()]);
        pause.abort();
        if (this.stopping) return undefined;
      }
    }
  }
}

/**
 * Hands out pages one event at a time. Written by hand rather than as an async generator: a generator's
 * `yield` costs a good part of what reading and decoding the row does, and full reads go through millions.
 * Between pages it gives timers and I/O a turn, even to a consumer that never awaits anything real.
 * `nextPage` returns undefined once there is nothing more.
 */
export const pagedEvents = (
  nextPage: () => readonly StoredEvent[] | undefined | Promise<readonly StoredEvent[] | undefined>,
): AsyncIterable<StoredEvent> => {
  let page: readonly StoredEvent[] = [];
  let index = 0;
  let started = false;
  const turnPage = async (): Promise<IteratorResult<StoredEvent>> => {
    for (;;) {
      if (started) await nextMacrotask();
      started = true;
      const next = await nextPage();
      if (next === undefined) return { done: true, value: undefined };
      page = next;
      index = 0;
      if (page.length > 0) return { done: false, value: page[index++] as StoredEvent };
    }
  };
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => (index < page.length ? Promise.resolve({ done: false, value: page[index++] as StoredEvent }) : turnPage()),
    }),
  };
};
