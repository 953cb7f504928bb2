import type { SubscribeOptions, SubscriptionHandler } from './event-store';

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
