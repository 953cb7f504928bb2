import { backoffDelay } from '@flotilla/domain';
import { MAX_BACKOFF_MS, MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-policy';

/** Successes that give a throttled workflow one more call in flight. */
export const SUCCESSES_PER_STEP = 10;
/**
 * The backoff base of a 429 without Retry-After never goes below this, whatever the workflow's
 * `retry.backoffMs`: a target that is throttling would otherwise be called again at once.
 */
export const MIN_THROTTLE_BACKOFF_MS = 250;

/** What `permit` grants: one call of the workflow. */
export interface ThrottlePermit {
  readonly workflowId: string;
  /**
   * The workflow's throttle generation when the call started. A 429 from a call that started before
   * the latest decrease says nothing new about the limit (it was made under the old one), so it
   * pushes the reopening time but halves nothing again: a wave of 429s halves once, not once each.
   */
  readonly generation: number;
  /** Hands the permit back; calling it again does nothing. */
  readonly release: () => void;
}

interface Granted extends ThrottlePermit {
  began: boolean;
}

interface Waiter {
  readonly workflowId: string;
  readonly grant: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
}

interface WorkflowState {
  /** Permits out: calls about to start (waiting for a call slot) or in flight. */
  inFlight: number;
  /** Of those, the calls really made (`begin`): what a 429 halves from. */
  calling: number;
  /** Calls allowed in flight; null: unlimited (not throttled). */
  limit: number | null;
  /** Where the ramp ends and the workflow is unlimited again: the calls in flight at the episode's first 429. */
  ceiling: number;
  /** No call starts before this (ms since the epoch). */
  untilMs: number;
  /** Decreases in a row without a success between them: the exponent of the backoff. */
  strikes: number;
  /** Successes since the limit last moved. */
  successes: number;
  generation: number;
  /** In arrival order (a Set keeps it, and lets a waiter that gives up leave in O(1)). */
  readonly waiting: Set<Waiter>;
  timer: NodeJS.Timeout | undefined;
}

export interface WorkflowThrottleOptions {
  /** Milliseconds since the epoch; Date.now by default. */
  readonly now?: () => number;
  /** [0, 1), for the backoff's jitter. */
  readonly random?: () => number;
}

/**
 * Adaptive back-off per workflow, driven by the 429s of its target, in the spirit of AIMD: a 429
 * halves the calls of the workflow allowed in flight (from those in flight then, at least 1) and
 * closes the workflow until the target's `Retry-After` (seconds or an HTTP date, capped as retries
 * are) or, without one, an exponential backoff from the one formula (`backoffDelay`). Then every
 * SUCCESSES_PER_STEP successes give one call back, until the workflow is back where the episode
 * started and unlimited again.
 *
 * It lives beside the call slots, not inside them: a permit is taken before a slot, so the calls a
 * closed workflow holds back keep no slot and other workflows go on. A permit whose holder waited for
 * its slot while a 429 came in is not good any more (`begin` says so): the holder asks again, so
 * what was queued before the 429 does not all hit the target after it. Waiters are served first
 * come, first served per workflow. Per executor process: several executors each slow down by themselves.
 */
export class WorkflowThrottle {
  private readonly states = new Map<string, WorkflowState>();
  /**
   * The waiters of each signal, so one abort listener serves them all: an AbortSignal removes a
   * listener by scanning its list, and a throttled workflow may have 100,000 executions waiting on
   * the executor's one stop signal.
   */
  private readonly waitersBySignal = new WeakMap<AbortSignal, Set<Waiter>>();
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: WorkflowThrottleOptions = {}) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** Resolves once a call of `workflowId` may start (open, and under its limit); rejects when `signal` aborts first. */
  permit(workflowId: string, signal?: AbortSignal): Promise<ThrottlePermit> {
    return new Promise<ThrottlePermit>((resolve, reject) => {
      signal?.throwIfAborted();
      const state = this.stateOf(workflowId);
      if (state.waiting.size === 0 && this.mayStart(state)) return resolve(this.take(workflowId, state));
      const waiter: Waiter = {
        workflowId,
        grant: () => {
          this.forget(waiter);
          resolve(this.take(workflowId, state));
        },
        reject: (reason) => {
          this.forget(waiter);
          this.forgetIfIdle(workflowId, state);
          reject(reason);
        },
        signal,
      };
      state.waiting.add(waiter);
      if (signal !== undefined) this.waitersOf(signal).add(waiter);
      this.serve(workflowId, state);
    });
  }

  /**
   * A permit now, without waiting, or null: the workflow is closed, at its limit, or others wait for
   * permits before this caller. For the executor's queue, whose waiters are callbacks, not promises.
   */
  tryPermit(workflowId: string): ThrottlePermit | null {
    if (!this.mayStartNow(workflowId)) return null;
    return this.take(workflowId, this.stateOf(workflowId));
  }

  /** Workflows being throttled now: a 429 lowered their limit, and it has not ramped back to unlimited yet. */
  throttledCount(): number {
    let count = 0;
    for (const state of this.states.values()) if (state.limit !== null) count++;
    return count;
  }

  /** Whether `tryPermit` would grant a permit now. */
  mayStartNow(workflowId: string): boolean {
    const state = this.states.get(workflowId);
    return state === undefined || (state.waiting.size === 0 && this.mayStart(state));
  }

  /**
   * Just before the call: true, and the call counts as made, when the permit is still good; false
   * when a 429 of the workflow came after it was granted, or the workflow closed meanwhile: hand it
   * back and ask again.
   */
  begin(permit: ThrottlePermit): boolean {
    const state = this.states.get(permit.workflowId);
    const granted = permit as Granted;
    if (state === undefined || granted.began) return state !== undefined;
    if (permit.generation !== state.generation || state.untilMs > this.now()) return false;
    granted.began = true;
    state.calling++;
    return true;
  }

  /**
   * The target answered a call made under `permit` with 429. Returns when calls of the workflow may
   * start again. `backoffMs` is the workflow's retry base, used when there is no Retry-After.
   */
  throttled(permit: ThrottlePermit, retryAfterHeader: string | undefined, now: Date, backoffMs = 0): Date {
    const state = this.stateOf(permit.workflowId);
    if (state.limit === null || permit.generation === state.generation) {
      if (state.limit === null) state.ceiling = Math.max(1, state.calling);
      state.limit = Math.max(1, Math.floor(Math.min(state.limit ?? Number.POSITIVE_INFINITY, state.calling) / 2));
      state.generation++;
      state.strikes++;
    }
    state.successes = 0;
    const retryAfter = parseRetryAfter(retryAfterHeader, now);
    const delay =
      retryAfter === undefined
        ? backoffDelay(state.strikes, { baseMs: Math.max(backoffMs, MIN_THROTTLE_BACKOFF_MS), capMs: MAX_BACKOFF_MS }, this.random)
        : Math.min(retryAfter, MAX_RETRY_AFTER_MS);
    state.untilMs = Math.max(state.untilMs, now.getTime() + delay);
    return new Date(state.untilMs);
  }

  /** A call of the workflow got an answer other than 429: the ramp goes on, and ends once back at the start. */
  succeeded(workflowId: string): void {
    const state = this.states.get(workflowId);
    if (state === undefined || state.limit === null) return;
    state.strikes = 0;
    if (++state.successes < SUCCESSES_PER_STEP) return;
    state.successes = 0;
    state.limit++;
    if (state.limit >= state.ceiling) state.limit = null;
    this.serve(workflowId, state);
  }

  /** When calls of the workflow may start again; null when they may now. */
  untilOf(workflowId: string): Date | null {
    const untilMs = this.states.get(workflowId)?.untilMs ?? 0;
    return untilMs > this.now() ? new Date(untilMs) : null;
  }

  /** The calls of the workflow allowed in flight; null when not throttled. */
  limitOf(workflowId: string): number | null {
    return this.states.get(workflowId)?.limit ?? null;
  }

  /** Whether the workflow is throttled: closed, or ramping back up. */
  isThrottled(workflowId: string): boolean {
    return this.limitOf(workflowId) !== null || this.untilOf(workflowId) !== null;
  }

  inFlightOf(workflowId: string): number {
    return this.states.get(workflowId)?.inFlight ?? 0;
  }

  waitingOf(workflowId: string): number {
    return this.states.get(workflowId)?.waiting.size ?? 0;
  }

  private stateOf(workflowId: string): WorkflowState {
    let state = this.states.get(workflowId);
    if (state === undefined) {
      state = {
        inFlight: 0,
        calling: 0,
        limit: null,
        ceiling: 1,
        untilMs: 0,
        strikes: 0,
        successes: 0,
        generation: 0,
        waiting: new Set(),
        timer: undefined,
      };
      this.states.set(workflowId, state);
    }
    return state;
  }

  private mayStart(state: WorkflowState, now = this.now()): boolean {
    return state.untilMs <= now && (state.limit === null || state.inFlight < state.limit);
  }

  private take(workflowId: string, state: WorkflowState): ThrottlePermit {
    state.inFlight++;
    let released = false;
    const permit: Granted = {
      workflowId,
      generation: state.generation,
      began: false,
      release: () => {
        if (released) return;
        released = true;
        state.inFlight--;
        if (permit.began) state.calling--;
        this.serve(workflowId, state);
      },
    };
    return permit;
  }

  private serve(workflowId: string, state: WorkflowState): void {
    // One reading of the time for the check and the timer: with two, a tick between them found the
    // workflow closed, then no time left to wait, and left its waiters with no timer to wake them.
    const now = this.now();
    for (const waiter of state.waiting) {
      if (!this.mayStart(state, now)) break;
      waiter.grant();
    }
    // Closed: wake up when it opens. Under the limit only: a release or a success serves them.
    if (state.waiting.size > 0 && state.untilMs > now) {
      clearTimeout(state.timer);
      state.timer = setTimeout(() => {
        state.timer = undefined;
        this.serve(workflowId, state);
      }, state.untilMs - now).unref();
    }
    this.forgetIfIdle(workflowId, state);
  }

  /** A workflow with nothing in flight, nobody waiting and no throttling left is forgotten: the map stays small. */
  private forgetIfIdle(workflowId: string, state: WorkflowState): void {
    if (state.inFlight > 0 || state.waiting.size > 0 || state.limit !== null || state.untilMs > this.now()) return;
    clearTimeout(state.timer);
    this.states.delete(workflowId);
  }

  /** The waiters of `signal`; the first one of a signal also sets its one abort listener. */
  private waitersOf(signal: AbortSignal): Set<Waiter> {
    let waiters = this.waitersBySignal.get(signal);
    if (waiters === undefined) {
      const all = new Set<Waiter>();
      waiters = all;
      this.waitersBySignal.set(signal, all);
      signal.addEventListener(
        'abort',
        () => {
          for (const waiter of [...all]) waiter.reject(signal.reason);
        },
        { once: true },
      );
    }
    return waiters;
  }

  /** Takes a waiter out of its workflow's line and its signal's set. */
  private forget(waiter: Waiter): void {
    this.states.get(waiter.workflowId)?.waiting.delete(waiter);
    if (waiter.signal !== undefined) this.waitersBySignal.get(waiter.signal)?.delete(waiter);
  }
}
