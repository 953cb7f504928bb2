import type { Batch } from '@flotilla/domain';
import { dropStartsUpTo } from './start-times';

/** How a paced batch's first calls are spread here: at most `calls` of them started within any `windowMs`, in its plan `plan`. */
export interface Pacing {
  readonly plan: number;
  readonly calls: number;
  readonly windowMs: number;
}

/** How much shorter than the interval the window is: absorbs the calls' own jitter, and lets a late batch catch up a little each wave. */
const MAX_SLACK_MS = 50;

/**
 * A batch is paced here when its catch-up is `paced` and it has an interval to keep: a wave's
 * worth of first calls (maxConcurrent) within any interval, less a slack of a twentieth of it, at
 * most 50 ms, within its current plan. A `burst` batch asked for its overdue waves at once, and
 * interval 0 has no pacing to keep: null.
 */
export const pacingOf = ({ settings, plan }: Pick<Batch, 'settings' | 'plan'>): Pacing | null => {
  if (settings.catchUp !== 'paced' || settings.batchIntervalSeconds <= 0) return null;
  const intervalMs = settings.batchIntervalSeconds * 1000;
  return { plan, calls: settings.maxConcurrent, windowMs: intervalMs - Math.min(MAX_SLACK_MS, intervalMs / 20) };
};

const SWEEP_EVERY_MS = 1000;

/**
 * Keeps a paced batch's calls to its pace at the target when its executions reach this executor
 * late and together. The batch's decisions space the triggers by the plan, but the messages that
 * carry them to the executor can be held up: after the broker was away, one consumer group came
 * back seconds after another, and four waves of triggers were delivered, and called, within 7 ms.
 * So a first call of a paced batch goes out only while fewer than a wave's worth of them started
 * within the window before it. A late wave pushes the next ones back rather than being caught up
 * on at once; what was late stays late by about its delay (the slack takes it back a little each
 * interval). Counted by start time and not by wave, so it holds whatever order the executions are
 * in line in (their state reads end in any order). As the call slots do, it holds within one
 * executor (ADR 0005). Retries are not counted: their backoff paces them.
 *
 * Within a plan only, as the batch state said when the execution was checked: a resume or a
 * reconfiguration starts its first wave at once, as asked, whatever the last wave's time
 * (docs/events.md), and an execution checked under an earlier plan than the latest is not held.
 */
export class WavePacer {
  /** By batch, the start times of its latest first calls in its latest plan, oldest first, trimmed to its window. */
  private readonly starts = new Map<string, { readonly plan: number; readonly windowMs: number; readonly at: number[] }>();
  private sweepAtMs = 0;

  constructor(private readonly now: () => number) {}

  /** Whether a first call of the batch may go out now. */
  mayStart(batchId: string, pacing: Pacing | null): boolean {
    if (pacing === null) return true;
    const starts = this.starts.get(batchId);
    if (starts === undefined || starts.plan !== pacing.plan) return true;
    dropStartsUpTo(starts.at, this.now() - pacing.windowMs);
    return starts.at.length < pacing.calls;
  }

  /** A first call of the batch went out now. */
  started(batchId: string, pacing: Pacing | null): void {
    if (pacing === null) return;
    const nowMs = this.now();
    let starts = this.starts.get(batchId);
    if (starts !== undefined && pacing.plan < starts.plan) return;
    // A new plan starts afresh. Within a plan the window never changes: changing the waves re-plans.
    if (starts === undefined || pacing.plan > starts.plan) {
      starts = { plan: pacing.plan, windowMs: pacing.windowMs, at: [] };
      this.starts.set(batchId, starts);
    }
    starts.at.push(nowMs);
    dropStartsUpTo(starts.at, nowMs - pacing.windowMs);
    if (nowMs >= this.sweepAtMs) this.sweep(nowMs);
  }

  /** Batches with a first call started within their window. */
  get size(): number {
    return this.starts.size;
  }

  /** Forgets the batches whose latest first call is out of their window: they hold nothing back. */
  private sweep(nowMs: number): void {
    this.sweepAtMs = nowMs + SWEEP_EVERY_MS;
    for (const [batchId, starts] of this.starts) {
      const latest = starts.at[starts.at.length - 1];
      if (latest === undefined || latest <= nowMs - starts.windowMs) this.starts.delete(batchId);
    }
  }
}
