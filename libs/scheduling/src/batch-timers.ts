import { Logger } from '@nestjs/common';
import type { BatchCommandHandler } from '@flotilla/application';
import { DomainError, isBatch, type BatchState } from '@flotilla/domain';
import type { Clock } from '@flotilla/platform';

/** setTimeout cannot wait longer than this (about 24.8 days); a later time is reached in steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** After an unexpected failure a timer is tried again this much later. */
const RETRY_MS = 1000;

/** When the batch's timer should fire next: its start time while pending, its next undeclared wave while running and not held. */
export const nextTimerOf = (state: BatchState): number | null => {
  if (!isBatch(state)) return null;
  if (state.status === 'pending') return Date.parse(state.settings.startAt);
  // A held batch declares no wave: its release re-plans and moves the timer again.
  if (state.status !== 'running' || state.held !== null) return null;
  return state.executions.nextDueAfter(state.declaredThroughMs)?.atMs ?? null;
};

/**
 * One timer per active batch, at its next due time as its state says: the start time while
 * pending, the next wave not yet declared while running. Firing decides through the batch (start,
 * or declare the due waves) and re-arms from the state that leaves.
 */
export class BatchTimers {
  private readonly logger = new Logger('Scheduler');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly batches: BatchCommandHandler,
    private readonly clock: Clock,
  ) {}

  /** Arms the batch's one timer at its next due time, from its current state (none when nothing is due). */
  async replan(batchId: string): Promise<void> {
    const next = nextTimerOf(await this.batches.load(batchId));
    if (next === null) return this.clear(batchId);
    this.arm(batchId, next);
  }

  clear(batchId: string): void {
    const timer = this.timers.get(batchId);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(batchId);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private arm(batchId: string, atMs: number): void {
    if (this.stopped) return;
    this.clear(batchId);
    const delay = Math.max(0, atMs - this.clock.now().getTime());
    const timer = setTimeout(
      () => {
        this.timers.delete(batchId);
        if (delay > MAX_TIMEOUT_MS) return void this.replan(batchId);
        void this.fire(batchId);
      },
      Math.min(delay, MAX_TIMEOUT_MS),
    );
    this.timers.set(batchId, timer);
  }

  private async fire(batchId: string): Promise<void> {
    try {
      await this.batches.handle(batchId, (state) =>
        state.status === 'pending'
          ? { type: 'StartBatch', batchId, now: this.clock.now() }
          : { type: 'DeclareDueWaves', batchId, now: this.clock.now() },
      );
      await this.replan(batchId);
    } catch (error) {
      if (error instanceof DomainError) return this.replan(batchId).catch((again: unknown) => this.retryLater(batchId, again));
      this.retryLater(batchId, error);
    }
  }

  private retryLater(batchId: string, error: unknown): void {
    this.logger.warn(`Timer of batch ${batchId} failed, trying again in ${RETRY_MS} ms: ${String(error)}`);
    this.arm(batchId, this.clock.now().getTime() + RETRY_MS);
  }
}
