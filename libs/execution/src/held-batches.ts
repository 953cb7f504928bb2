import { setTimeout as sleep } from 'node:timers/promises';

/** How often an execution waiting on a hold reads its batch again, in case the release went by unseen. */
export const HOLD_RECHECK_MS = 1000;

/**
 * The batches this executor must not call, by id: a gate the dispatcher passes before it asks for a
 * call slot, and again once it has one (a hold may come while it waited). Calls already in flight
 * finish; the executions waiting here keep their messages, so a restart loses none of them.
 *
 * Fed two ways: by BatchHeld and BatchReleased from the transport (the executor's holds consumer
 * group), and by the batch state each ExecutionTriggered loads, so after a restart a held batch is
 * known from its first execution. A state read is older than the events that follow it: a waiting
 * execution reads its batch again every HOLD_RECHECK_MS, so a release this gate was told of too
 * early, or never, still lets it go. The executions waiting in the call slots' line are not waits
 * on this gate but waiters the line passes over while their batch is held: the dispatcher rechecks
 * the held batches' states on the same period for them, and a release pokes the line (`onReleased`).
 */
export class HeldBatches {
  private readonly held = new Map<string, { readonly released: Promise<void>; readonly release: () => void }>();
  private readonly releaseListeners = new Set<(batchId: string) => void>();

  hold(batchId: string): void {
    if (this.held.has(batchId)) return;
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.held.set(batchId, { released, release });
  }

  release(batchId: string): void {
    const entry = this.held.get(batchId);
    if (entry === undefined) return;
    entry.release();
    this.held.delete(batchId);
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
   * batch) says it no longer is. Rejects when `signal` aborts (the executor is stopping).
   */
  async untilReleased(batchId: string, stillHeld: () => Promise<boolean>, signal: AbortSignal, recheckMs = HOLD_RECHECK_MS): Promise<void> {
    for (let entry = this.held.get(batchId); entry !== undefined; entry = this.held.get(batchId)) {
      signal.throwIfAborted();
      const wait = new AbortController();
      const onAbort = (): void => wait.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await Promise.race([entry.released, sleep(recheckMs, undefined, { signal: wait.signal })]);
      } catch (error) {
        // The stop's own reason, as the rest of the dispatcher's waits end with.
        signal.throwIfAborted();
        throw error;
      } finally {
        signal.removeEventListener('abort', onAbort);
        wait.abort();
      }
      signal.throwIfAborted();
      if (this.held.get(batchId) === entry && !(await stillHeld())) this.release(batchId);
    }
  }
}
