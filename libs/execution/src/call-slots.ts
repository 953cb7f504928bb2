import { FairQueue, type FairTicket } from '@flotilla/domain';
import { dropStartsUpTo } from './start-times';

/** Hands a slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

/** Who asks for a slot, and the limits of its workflow version. */
export interface SlotRequest {
  readonly workflowId: string;
  readonly batchId: string;
  /** The batch's priority: lower goes first. */
  readonly priority: number;
  /** At most this many calls of the workflow in flight; the slots' default when absent. */
  readonly maxInFlight?: number;
  /** At most this many calls of the workflow started in any one second; no limit when absent. */
  readonly maxPerSecond?: number;
}

export interface CallSlotsOptions {
  /**
   * False: no priority and no turns between batches, only first come first served per workflow (and
   * turns between workflows), as the executor was before; EXECUTOR_FAIRNESS=off, for comparison.
   */
  readonly fair?: boolean;
  /** Milliseconds, for the per-second windows. */
  readonly now?: () => number;
}

/** A caller in line: data and its callbacks, no closures (a million of them may wait). */
interface Waiter {
  readonly batchId: string;
  readonly priority: number;
  readonly workflowId: string;
  readonly maxInFlight: number;
  readonly maxPerSecond: number | undefined;
  readonly callbacks: SlotCallbacks;
  readonly use: WorkflowUse;
  /** The waiters listening on the same signal, to leave when granted; null without a signal. */
  readonly aborts: Set<Waiter> | null;
  ticket: FairTicket | null;
}

/** How a caller queued with `enqueue` hears of its turn, and whether it may go now. */
export interface SlotCallbacks {
  /** Its turn came: it holds a slot until it calls `release`. */
  readonly granted: (release: ReleaseSlot) => void;
  /** The signal aborted before its turn: it left the line. */
  readonly aborted: (reason: unknown) => void;
  /**
   * False while something outside the slots keeps it from going (its batch is held, its workflow
   * throttled): it is passed over and keeps its place, and is asked again within READY_RECHECK_MS.
   */
  readonly ready?: () => boolean;
}

interface WorkflowUse {
  inFlight: number;
  waiting: number;
  /** Start times of the latest calls, oldest first, trimmed to the last second (and kept only with maxPerSecond). */
  readonly starts: number[];
}

const WINDOW_MS = 1000;
/** How soon callers passed over as not ready are asked again: a hold's release or a throttle's reopening tells the slots nothing. */
export const READY_RECHECK_MS = 50;

/**
 * The executor's call slots: at most `capacity` calls to workflow targets in flight at once, at
 * most a workflow's `maxInFlight` of them for all its batches together (by default half the
 * capacity, so a workflow whose calls all hang cannot take every slot), and at most its
 * `maxPerSecond` calls started in any one-second window.
 *
 * Callers wait in a FairQueue: a free slot goes to the lowest priority number, among equal ones to
 * the batches in turns, first come first served within a batch, passing over callers whose workflow
 * is at a limit (they keep their place). A timer serves callers held only by a per-second window
 * when it frees. Only calls hold slots: a retry's backoff wait is outside `acquire`/release. The
 * limits hold within this process: each executor has its own slots (ADR 0005).
 */
export class CallSlots {
  private inFlight = 0;
  private readonly queue = new FairQueue<Waiter>();
  private readonly byWorkflow = new Map<string, WorkflowUse>();
  private readonly fair: boolean;
  private readonly now: () => number;
  private timer: { at: number; handle: NodeJS.Timeout } | null = null;
  /**
   * The waiters of each signal, behind one listener per signal: Node's EventTarget removes a
   * listener by scanning its list, which made 100,000 waiters on the executor's one stop signal quadratic.
   */
  private readonly aborts = new WeakMap<AbortSignal, Set<Waiter>>();

  constructor(
    readonly capacity: number,
    /** The maxInFlight of a workflow that declares none. */
    readonly defaultWorkflowLimit: number = Math.max(1, Math.floor(capacity / 2)),
    options: CallSlotsOptions = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity must be a positive integer, not ${capacity}`);
    this.fair = options.fair ?? true;
    this.now = options.now ?? Date.now;
  }

  /** Resolves with the release once the request's turn comes and its workflow is under its limits; rejects when `signal` aborts first. */
  acquire(request: SlotRequest, signal?: AbortSignal): Promise<ReleaseSlot> {
    return new Promise<ReleaseSlot>((resolve, reject) => {
      signal?.throwIfAborted();
      this.enqueue(request, signal, { granted: resolve, aborted: reject });
    });
  }

  /**
   * Puts the request in line without a promise: what waits is the waiter and its callbacks, a few
   * hundred bytes, so the executor's queue can hold a million (ADR 0005). `aborted` is called at
   * once when `signal` has already aborted.
   */
  enqueue(request: SlotRequest, signal: AbortSignal | undefined, callbacks: SlotCallbacks): void {
    if (signal?.aborted) return callbacks.aborted(signal.reason);
    const use = this.useOf(request.workflowId);
    const waiter: Waiter = {
      // Fairness off: one line per workflow, so only arrival order counts within it. Callers with a
      // `ready` and callers without never share a line: the queue asks only a line's first, and one
      // not ready (waiting for a throttle permit) must not hold up one behind it that holds that permit.
      batchId: (this.fair ? request.batchId : request.workflowId) + (callbacks.ready === undefined ? '' : '\u0000ready'),
      priority: this.fair ? request.priority : 0,
      workflowId: request.workflowId,
      maxInFlight: request.maxInFlight ?? this.defaultWorkflowLimit,
      maxPerSecond: request.maxPerSecond,
      callbacks,
      use,
      aborts: signal === undefined ? null : this.abortsOf(signal),
      ticket: null,
    };
    waiter.ticket = this.queue.add(waiter);
    use.waiting++;
    waiter.aborts?.add(waiter);
    this.serve();
  }

  private abort(waiter: Waiter, reason: unknown): void {
    if (waiter.ticket === null || !this.queue.cancel(waiter.ticket)) return;
    waiter.use.waiting--;
    this.forget(waiter.workflowId, waiter.use);
    waiter.callbacks.aborted(reason);
  }

  /** Serves the line again: something that `ready` depends on changed (a batch was released). */
  poke(): void {
    this.serve();
  }

  private abortsOf(signal: AbortSignal): Set<Waiter> {
    let waiters = this.aborts.get(signal);
    if (waiters === undefined) {
      const set = new Set<Waiter>();
      waiters = set;
      this.aborts.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          for (const waiter of [...set]) this.abort(waiter, signal.reason);
          set.clear();
        },
        { once: true },
      );
    }
    return waiters;
  }

  /** Calls in flight, overall or of one workflow. */
  inFlightOf(workflowId?: string): number {
    return workflowId === undefined ? this.inFlight : (this.byWorkflow.get(workflowId)?.inFlight ?? 0);
  }

  /** Callers waiting for a slot, overall or of one workflow. */
  waitingOf(workflowId?: string): number {
    return workflowId === undefined ? this.queue.size : (this.byWorkflow.get(workflowId)?.waiting ?? 0);
  }

  /** Gives free slots to waiting callers in the queue's order until none can go. */
  private serve(): void {
    let wakeAt = Infinity;
    const canGo = (waiter: Waiter): boolean => {
      const use = this.byWorkflow.get(waiter.workflowId)!;
      if (use.inFlight >= waiter.maxInFlight) return false;
      if (waiter.callbacks.ready !== undefined && !waiter.callbacks.ready()) {
        wakeAt = Math.min(wakeAt, this.now() + READY_RECHECK_MS);
        return false;
      }
      if (waiter.maxPerSecond === undefined) return true;
      const now = this.now();
      dropStartsUpTo(use.starts, now - WINDOW_MS);
      if (use.starts.length < waiter.maxPerSecond) return true;
      // The window frees when the start maxPerSecond calls back is a second old.
      wakeAt = Math.min(wakeAt, use.starts[use.starts.length - waiter.maxPerSecond]! + WINDOW_MS);
      return false;
    };
    while (this.inFlight < this.capacity) {
      const waiter = this.queue.take(canGo);
      if (waiter === undefined) break;
      const use = this.byWorkflow.get(waiter.workflowId)!;
      use.waiting--;
      waiter.aborts?.delete(waiter);
      waiter.callbacks.granted(this.take(waiter, use));
    }
    if (wakeAt !== Infinity && this.queue.size > 0) this.wakeAt(wakeAt);
  }

  private take(waiter: Waiter, use: WorkflowUse): ReleaseSlot {
    this.inFlight++;
    use.inFlight++;
    if (waiter.maxPerSecond !== undefined) use.starts.push(this.now());
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      use.inFlight--;
      this.forget(waiter.workflowId, use);
      this.serve();
    };
  }

  private wakeAt(at: number): void {
    if (this.timer !== null && this.timer.at <= at) return;
    if (this.timer !== null) clearTimeout(this.timer.handle);
    const handle = setTimeout(
      () => {
        this.timer = null;
        this.serve();
      },
      Math.max(0, at - this.now()),
    );
    // Waiting callers keep their own messages; the timer alone must not keep the process up.
    handle.unref();
    this.timer = { at, handle };
  }

  private useOf(workflowId: string): WorkflowUse {
    let use = this.byWorkflow.get(workflowId);
    if (use === undefined) {
      use = { inFlight: 0, waiting: 0, starts: [] };
      this.byWorkflow.set(workflowId, use);
    }
    return use;
  }

  /** Drops a workflow's counters once nothing of it is in flight, waiting, or inside a per-second window. */
  private forget(workflowId: string, use: WorkflowUse): void {
    if (use.inFlight > 0 || use.waiting > 0) return;
    dropStartsUpTo(use.starts, this.now() - WINDOW_MS);
    if (use.starts.length === 0) this.byWorkflow.delete(workflowId);
  }
}
