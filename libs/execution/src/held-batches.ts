/** How often a held batch with executions waiting on it is read again, in case the release went by unseen. */
export const HOLD_RECHECK_MS = 1000;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal;
}

interface Hold {
  readonly waiters: Set<Waiter>;
  /** While executions wait on the hold: reads the batch again every recheck period. */
  recheck: NodeJS.Timeout | undefined;
}

/**
 * The batches this executor must not call, by id: a gate the dispatcher passes before it asks for a
 * call slot, and again once it has one (a hold may come while it waited). Calls already in flight
 * finish; the executions waiting here keep their messages, so a restart loses none of them.
 *
 * Fed two ways: by BatchHeld and BatchReleased from the transport (the executor's holds consumer
 * group), and by the batch state each ExecutionTriggered loads, so after a restart a held batch is
 * known from its first execution. A state read is older than the events that follow it, so while
 * executions wait on a hold the batch is read again every HOLD_RECHECK_MS: a release this gate was
 * told of too early, or never, still lets them go. The executions waiting in the call slots' line are
 * not waits on this gate but waiters the line passes over while their batch is held: the dispatcher
 * rechecks the held batches' states on the same period for them, and a release pokes the line
 * (`onReleased`).
 *
 * A held batch may have a great many executions waiting on this gate too (retries, after a hold in
 * the middle of a million-item batch): each costs one small record here, the batch is read once per
 * period whatever their number, and the stop signal gets one listener, not one per waiter (an
 * AbortSignal removes a listener by scanning its list).
 */
export class HeldBatches {
  private readonly held = new Map<string, Hold>();
  private readonly watchedSignals = new WeakSet<AbortSignal>();
  private readonly releaseListeners = new Set<(batchId: string) => void>();

  hold(batchId: string): void {
    if (!this.held.has(batchId)) this.held.set(batchId, { waiters: new Set(), recheck: undefined });
  }

  release(batchId: string): void {
    const hold = this.held.get(batchId);
    if (hold === undefined) return;
    this.held.delete(batchId);
    clearInterval(hold.recheck);
    for (const waiter of hold.waiters) waiter.resolve();
    for (const listener of this.releaseListeners) listener(batchId);
  }

  /** Tells `listener` of every release: the executions waiting in the call slots' line are callbacks, not promises on `released`. */
  onReleased(listener: (batchId: string) => void): void {
    this.releaseListeners.add(listener);
  }

  /** The batches held here. */
  heldIds(): string[] {
    return [...this.held.keys()];
  }

  isHeld(batchId: string): boolean {
    return this.held.has(batchId);
  }

  /** How many batches are held here: for tests and metrics. */
  get size(): number {
    return this.held.size;
  }

  /**
   * Resolves once the batch is not held: at its release, or when `stillHeld` (a fresh read of the
   * batch) says it no longer is. Rejects with the signal's reason when `signal` aborts (the executor
   * is stopping); the hold itself stays.
   */
  untilReleased(batchId: string, stillHeld: () => Promise<boolean>, signal: AbortSignal, recheckMs = HOLD_RECHECK_MS): Promise<void> {
    const hold = this.held.get(batchId);
    if (hold === undefined) return Promise.resolve();
    if (signal.aborted) return Promise.reject(signal.reason);
    this.watch(signal);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          hold.waiters.delete(waiter);
          resolve();
        },
        reject: (reason) => {
          hold.waiters.delete(waiter);
          if (hold.waiters.size === 0) this.stopRecheck(hold);
          reject(reason);
        },
        signal,
      };
      hold.waiters.add(waiter);
      // Unref'd: a hold must not keep a stopping process alive.
      hold.recheck ??= setInterval(() => void this.recheck(batchId, hold, stillHeld), recheckMs).unref();
    });
  }

  private async recheck(batchId: string, hold: Hold, stillHeld: () => Promise<boolean>): Promise<void> {
    if (this.held.get(batchId) !== hold) return;
    let held: boolean;
    try {
      held = await stillHeld();
    } catch {
      return; // a failed read proves nothing: the next period reads again
    }
    if (!held && this.held.get(batchId) === hold) this.release(batchId);
  }

  private stopRecheck(hold: Hold): void {
    clearInterval(hold.recheck);
    hold.recheck = undefined;
  }

  /** Rejects every wait of `signal` when it aborts, with one listener for all of them. */
  private watch(signal: AbortSignal): void {
    if (this.watchedSignals.has(signal)) return;
    this.watchedSignals.add(signal);
    signal.addEventListener(
      'abort',
      () => {
        for (const hold of this.held.values())
          for (const waiter of [...hold.waiters]) if (waiter.signal === signal) waiter.reject(signal.reason);
      },
      { once: true },
    );
  }
}
