import { executeAtOf, waveOf, type WaveSettings } from './schedule';

/** Where one scheduled execution is in its lifecycle; `completed` and `failed` are outcomes of a triggered one. */
export type ExecutionState = 'pending' | 'triggered' | 'cancelled' | 'completed' | 'failed';

const PENDING = 0;
const TRIGGERED = 1;
const CANCELLED = 2;
const COMPLETED = 3;
const FAILED = 4;
const STATE_NAMES: readonly ExecutionState[] = ['pending', 'triggered', 'cancelled', 'completed', 'failed'];

/** Everything an execution table holds, as plain data: what a snapshot stores. */
export interface ExecutionTableSnapshot {
  readonly total: number;
  readonly states: Uint8Array;
  readonly order: Int32Array | null;
  readonly ranks: Int32Array | null;
  readonly planSize: number;
  readonly anchorMs: number;
  readonly rescheduled: readonly (readonly [number, number])[];
  readonly failedAttempts: readonly (readonly [number, number])[];
  /** index -> the accepted attempt, for executions awaiting an async target's callback. */
  readonly awaitingCallback: readonly (readonly [number, number])[];
  readonly head: number;
  readonly tail: number;
  /**
   * The wave figures of the current plan. They differ from the batch's settings only while a paused
   * batch holds new figures for its resume; snapshots taken before they were kept lack them (the
   * settings' figures then).
   */
  readonly waves?: WaveSettings;
}

export interface DueTime {
  readonly atMs: number;
  /** The plan's wave starting at that time, or null when only rescheduled executions fall due then. */
  readonly wave: number | null;
}

/**
 * The per-execution part of a batch's state, sized for a million items: one byte of status per
 * execution, the current plan as two typed arrays, and the individually rescheduled executions in a
 * map. A plan orders the executions that were pending when it was made (all of them at creation,
 * the still-pending ones at each new plan: resume, reconfiguration, catch-up) by their original
 * index; an execution's time is given by its rank in that order and the plan's wave figures,
 * unless it was rescheduled.
 *
 * It is mutated in place by `evolve` (copying a million-entry table per event would make rebuilding
 * a batch quadratic); everything else only reads it.
 */
export class ExecutionTable {
  private readonly states: Uint8Array;
  /** rank -> index in the current plan; null means the identity (the first plan over every item). */
  private order: Int32Array | null = null;
  /** index -> rank in the current plan, -1 when not in it; null means the identity. */
  private ranks: Int32Array | null = null;
  private planSize: number;
  private anchorMs: number;
  private readonly rescheduled = new Map<number, number>();
  /** Attempts that failed so far, for triggered executions still without an outcome (few at a time). */
  private readonly failedAttempts = new Map<number, number>();
  /**
   * Triggered executions an async target accepted, still awaiting their callback: index -> the
   * attempt that was accepted (few at a time). Only these may be settled by a callback.
   */
  private readonly awaitingCallback = new Map<number, number>();
  /** Ranks before `head` and from `tail` on hold no pending, plan-timed execution. */
  private head = 0;
  private tail: number;

  /** The wave figures of the current plan. */
  private waves: WaveSettings;

  constructor(
    readonly total: number,
    anchorMs: number,
    waves: WaveSettings,
  ) {
    this.states = new Uint8Array(total);
    this.planSize = total;
    this.tail = total;
    this.anchorMs = anchorMs;
    this.waves = wavesOf(waves);
  }

  /** A copy of the table as plain data. */
  toSnapshot(): ExecutionTableSnapshot {
    return {
      total: this.total,
      states: this.states.slice(),
      order: this.order?.slice() ?? null,
      ranks: this.ranks?.slice() ?? null,
      planSize: this.planSize,
      anchorMs: this.anchorMs,
      rescheduled: [...this.rescheduled],
      failedAttempts: [...this.failedAttempts],
      awaitingCallback: [...this.awaitingCallback],
      head: this.head,
      tail: this.tail,
      waves: this.waves,
    };
  }

  /** `waves`: the figures of a snapshot that does not hold its own (taken before they were kept). */
  static fromSnapshot(snapshot: ExecutionTableSnapshot, waves: WaveSettings): ExecutionTable {
    const table = new ExecutionTable(snapshot.total, snapshot.anchorMs, snapshot.waves ?? waves);
    table.states.set(snapshot.states);
    table.order = snapshot.order;
    table.ranks = snapshot.ranks;
    table.planSize = snapshot.planSize;
    for (const [index, atMs] of snapshot.rescheduled) table.rescheduled.set(index, atMs);
    for (const [index, attempts] of snapshot.failedAttempts) table.failedAttempts.set(index, attempts);
    for (const [index, attempt] of snapshot.awaitingCallback) table.awaitingCallback.set(index, attempt);
    table.head = snapshot.head;
    table.tail = snapshot.tail;
    return table;
  }

  stateOf(index: number): ExecutionState {
    return STATE_NAMES[this.states[index] ?? PENDING] ?? 'pending';
  }

  isPending(index: number): boolean {
    return this.states[index] === PENDING;
  }

  /** The time at which a pending execution is due (ms since the epoch). */
  executeAtOf(index: number): number {
    const rescheduledAt = this.rescheduled.get(index);
    if (rescheduledAt !== undefined) return rescheduledAt;
    const rank = this.rankOf(index);
    return rank < 0 ? Number.NaN : executeAtOf(this.anchorMs, rank, this.waves);
  }

  /** The wave of the current plan an execution belongs to, or null when it was rescheduled or is not planned. */
  waveOf(index: number): number | null {
    if (this.rescheduled.has(index)) return null;
    const rank = this.rankOf(index);
    return rank < 0 ? null : waveOf(rank, this.waves);
  }

  markTriggered(index: number): void {
    this.leavePending(index, TRIGGERED);
  }

  markCancelled(index: number): void {
    this.leavePending(index, CANCELLED);
  }

  markOutcome(index: number, outcome: 'completed' | 'failed'): void {
    this.states[index] = outcome === 'completed' ? COMPLETED : FAILED;
    this.failedAttempts.delete(index);
    this.awaitingCallback.delete(index);
  }

  recordFailedAttempt(index: number, attempt: number): void {
    if (this.states[index] !== TRIGGERED) return;
    this.failedAttempts.set(index, Math.max(attempt, this.failedAttempts.get(index) ?? 0));
    this.awaitingCallback.delete(index);
  }

  /** An async target accepted `attempt` of a triggered execution: its outcome now comes on the callback. */
  markAccepted(index: number, attempt: number): void {
    if (this.states[index] === TRIGGERED) this.awaitingCallback.set(index, attempt);
  }

  /** The accepted attempt of an execution awaiting its callback, or null when it awaits none. */
  acceptedAttemptOf(index: number): number | null {
    return this.awaitingCallback.get(index) ?? null;
  }

  /** How many attempts of a triggered execution have failed so far: a redelivered execution goes on from there. */
  failedAttemptsOf(index: number): number {
    return this.failedAttempts.get(index) ?? 0;
  }

  /** Cancels every pending execution; returns how many. */
  cancelAllPending(): number {
    let cancelled = 0;
    for (let index = 0; index < this.total; index++) {
      if (this.states[index] === PENDING) {
        this.states[index] = CANCELLED;
        cancelled++;
      }
    }
    this.rescheduled.clear();
    this.head = this.tail = this.planSize;
    return cancelled;
  }

  reschedule(index: number, atMs: number): void {
    this.rescheduled.set(index, atMs);
    this.trimEnds();
  }

  /**
   * A new plan from `anchorMs` over the still-pending executions in their original order, with the
   * wave figures `waves`; returns its size. Individually rescheduled executions rejoin the plan.
   */
  replan(anchorMs: number, waves: WaveSettings): number {
    const ranks = new Int32Array(this.total).fill(-1);
    let pending = 0;
    for (let index = 0; index < this.total; index++) if (this.states[index] === PENDING) ranks[index] = pending++;
    const order = new Int32Array(pending);
    for (let index = 0; index < this.total; index++) {
      const rank = ranks[index] ?? -1;
      if (rank >= 0) order[rank] = index;
    }
    this.order = order;
    this.ranks = ranks;
    this.planSize = pending;
    this.anchorMs = anchorMs;
    this.waves = wavesOf(waves);
    this.rescheduled.clear();
    this.head = 0;
    this.tail = pending;
    return pending;
  }

  /**
   * Pending executions due at or before `nowMs`, earliest first (ties in index order), at most `limit`.
   * Cost is proportional to the executions returned plus the rescheduled ones.
   */
  dueAt(nowMs: number, limit: number): number[] {
    const due: number[] = [];
    for (let rank = this.head; rank < this.tail && due.length < limit; rank++) {
      if (executeAtOf(this.anchorMs, rank, this.waves) > nowMs) break;
      const index = this.indexAt(rank);
      if (this.isPlanTimedPending(index)) due.push(index);
    }
    let mixed = false;
    for (const [index, atMs] of this.rescheduled) {
      if (atMs <= nowMs && this.states[index] === PENDING) {
        due.push(index);
        mixed = true;
      }
    }
    if (!mixed) return due;
    return due.sort((a, b) => this.executeAtOf(a) - this.executeAtOf(b) || a - b).slice(0, limit);
  }

  /** The earliest time strictly after `afterMs` at which a pending execution is due, or null. */
  nextDueAfter(afterMs: number): DueTime | null {
    let next: DueTime | null = null;
    // Plan times only grow with rank: jump straight to the first wave that starts after `afterMs`.
    const intervalMs = this.waves.batchIntervalSeconds * 1000;
    let firstWave = 0;
    if (afterMs >= this.anchorMs) {
      if (intervalMs === 0) firstWave = Number.POSITIVE_INFINITY;
      else firstWave = Math.floor((afterMs - this.anchorMs) / intervalMs) + 1;
    }
    const fromRank = Math.max(this.head, firstWave * this.waves.maxConcurrent);
    for (let rank = fromRank; rank < this.tail; rank++) {
      if (this.isPlanTimedPending(this.indexAt(rank))) {
        next = { atMs: executeAtOf(this.anchorMs, rank, this.waves), wave: waveOf(rank, this.waves) };
        break;
      }
    }
    for (const [index, atMs] of this.rescheduled) {
      if (atMs > afterMs && this.states[index] === PENDING && (next === null || atMs < next.atMs)) {
        next = { atMs, wave: null };
      }
    }
    return next;
  }

  /**
   * The first `count` pending executions in index order: the first wave of a plan made now (a
   * re-plan puts every pending execution in index order, rescheduled ones included). Scans from the
   * start: O(total) at worst, as the re-plan itself.
   */
  firstPending(count: number): number[] {
    const first: number[] = [];
    for (let index = 0; index < this.total && first.length < count; index++) if (this.states[index] === PENDING) first.push(index);
    return first;
  }

  /** When the last pending execution is due, or null when none is pending. */
  lastExecuteAt(): number | null {
    return this.lastExecuteAtExcept(-1);
  }

  /** When the last pending execution would be due if `index` left the pending set (a decision not yet made). */
  lastExecuteAtWithout(index: number): number | null {
    return this.lastExecuteAtExcept(index);
  }

  /** When the last pending execution would be due if `index` were moved to `atMs`. */
  lastExecuteAtWith(index: number, atMs: number): number | null {
    const others = this.lastExecuteAtExcept(index);
    return others === null ? atMs : Math.max(others, atMs);
  }

  /** The tail scan stops at the first pending execution other than `excluded`: O(1) but for it. */
  private lastExecuteAtExcept(excluded: number): number | null {
    let last: number | null = null;
    for (let rank = this.tail - 1; rank >= this.head; rank--) {
      const index = this.indexAt(rank);
      if (index !== excluded && this.isPlanTimedPending(index)) {
        last = executeAtOf(this.anchorMs, rank, this.waves);
        break;
      }
    }
    for (const [index, atMs] of this.rescheduled) {
      if (index !== excluded && this.states[index] === PENDING && (last === null || atMs > last)) last = atMs;
    }
    return last;
  }

  private leavePending(index: number, state: number): void {
    this.states[index] = state;
    this.rescheduled.delete(index);
    this.trimEnds();
  }

  /** Moves head and tail past executions that left the plan; amortised O(1) per execution. */
  private trimEnds(): void {
    while (this.head < this.tail && !this.isPlanTimedPending(this.indexAt(this.head))) this.head++;
    while (this.tail > this.head && !this.isPlanTimedPending(this.indexAt(this.tail - 1))) this.tail--;
  }

  private isPlanTimedPending(index: number): boolean {
    return this.states[index] === PENDING && !this.rescheduled.has(index);
  }

  private indexAt(rank: number): number {
    return this.order === null ? rank : (this.order[rank] ?? -1);
  }

  private rankOf(index: number): number {
    return this.ranks === null ? index : (this.ranks[index] ?? -1);
  }
}

/** The wave figures alone, copied: a table never holds on to a settings object. */
const wavesOf = (waves: WaveSettings): WaveSettings => ({
  maxConcurrent: waves.maxConcurrent,
  batchIntervalSeconds: waves.batchIntervalSeconds,
});
