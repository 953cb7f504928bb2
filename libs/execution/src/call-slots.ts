/** Hands a slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

interface Waiter {
  readonly limit: number;
  readonly grant: (release: ReleaseSlot) => void;
}

/**
 * The executor's call slots: at most `capacity` calls to workflow targets in flight at once, and
 * at most a per-workflow limit of them for any one workflow, so a workflow whose calls all hang
 * cannot take every slot (by default it gets half).
 *
 * Callers wait in one queue per workflow, first come first served within it; a freed slot goes to
 * the first workflow in line that is under its limit, and that workflow then goes to the back of
 * the line. Only calls hold slots: a retry's backoff wait is outside `acquire`/release.
 */
export class CallSlots {
  private inFlight = 0;
  private readonly inFlightByWorkflow = new Map<string, number>();
  /** Workflows with callers waiting, in the order they are served. */
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(
    readonly capacity: number,
    /** The limit of a workflow that declares none. */
    readonly defaultWorkflowLimit: number = Math.max(1, Math.floor(capacity / 2)),
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity must be a positive integer, not ${capacity}`);
  }

  /**
   * Resolves with the release once `workflowId` may make one more call; rejects when `signal`
   * aborts first. `limit` is the workflow's own (its version's `limits.maxInFlight`).
   */
  acquire(workflowId: string, limit: number = this.defaultWorkflowLimit, signal?: AbortSignal): Promise<ReleaseSlot> {
    return new Promise<ReleaseSlot>((resolve, reject) => {
      signal?.throwIfAborted();
      if (!this.waiting.has(workflowId) && this.hasRoom(workflowId, limit)) return resolve(this.take(workflowId));
      const onAbort = (): void => {
        this.leave(workflowId, waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        limit,
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const queue = this.waiting.get(workflowId);
      if (queue === undefined) this.waiting.set(workflowId, [waiter]);
      else queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Calls in flight, overall or of one workflow. */
  inFlightOf(workflowId?: string): number {
    return workflowId === undefined ? this.inFlight : (this.inFlightByWorkflow.get(workflowId) ?? 0);
  }

  /** Callers waiting for a slot, overall or of one workflow. */
  waitingOf(workflowId?: string): number {
    if (workflowId !== undefined) return this.waiting.get(workflowId)?.length ?? 0;
    let count = 0;
    for (const queue of this.waiting.values()) count += queue.length;
    return count;
  }

  private hasRoom(workflowId: string, limit: number): boolean {
    return this.inFlight < this.capacity && this.inFlightOf(workflowId) < limit;
  }

  private take(workflowId: string): ReleaseSlot {
    this.inFlight++;
    this.inFlightByWorkflow.set(workflowId, this.inFlightOf(workflowId) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      const left = this.inFlightOf(workflowId) - 1;
      if (left === 0) this.inFlightByWorkflow.delete(workflowId);
      else this.inFlightByWorkflow.set(workflowId, left);
      this.serve();
    };
  }

  /** Gives free slots to waiting callers, one per workflow in line per round, until none can go. */
  private serve(): void {
    let served = true;
    while (served && this.inFlight < this.capacity) {
      served = false;
      for (const [workflowId, queue] of this.waiting) {
        if (this.inFlight >= this.capacity) break;
        const first = queue[0];
        if (first === undefined || !this.hasRoom(workflowId, first.limit)) continue;
        queue.shift();
        // To the back of the line: the next free slot goes to another workflow first.
        this.waiting.delete(workflowId);
        if (queue.length > 0) this.waiting.set(workflowId, queue);
        first.grant(this.take(workflowId));
        served = true;
        break;
      }
    }
  }

  private leave(workflowId: string, waiter: Waiter): void {
    const queue = this.waiting.get(workflowId);
    if (queue === undefined) return;
    const at = queue.indexOf(waiter);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) this.waiting.delete(workflowId);
    // The one who left may have been holding up those behind it (a lower limit at the head).
    this.serve();
  }
}
