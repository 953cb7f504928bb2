import { Logger } from '@nestjs/common';
import type { BatchCommandHandler } from '@flotilla/application';
import type { Clock } from '@flotilla/platform';
import type { TimerStore } from '@flotilla/state';

/** setTimeout cannot wait longer than this (about 24.8 days); a later deadline is reached in steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Deadlines expired per pass. */
const EXPIRE_LIMIT = 1000;

/**
 * The callback deadlines of executions accepted by async targets: one timer, for the earliest; the
 * TimerStore is the durable list. A deadline that passes fails its execution the way a callback
 * would, so only an execution still awaiting its callback fails (with its accepted attempt); one
 * whose result arrived meanwhile is refused by the decider and left as it is.
 */
export class CallbackDeadlines {
  private readonly logger = new Logger('Scheduler');
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly batches: BatchCommandHandler,
    private readonly timers: TimerStore,
    private readonly clock: Clock,
  ) {}

  /** Arms the one timer at the earliest deadline in the store. */
  arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const next = this.timers.nextDeadline();
    if (next === null) return;
    const delay = Math.min(Math.max(0, next - this.clock.now().getTime()), MAX_TIMEOUT_MS);
    this.timer = setTimeout(() => void this.expire(), delay);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async expire(): Promise<void> {
    const now = this.clock.now();
    const byBatch = new Map<string, number[]>();
    for (const due of this.timers.dueDeadlines(now.getTime(), EXPIRE_LIMIT))
      byBatch.set(due.batchId, [...(byBatch.get(due.batchId) ?? []), due.index]);
    for (const [batchId, indexes] of byBatch) {
      try {
        await this.batches.handleAll(
          batchId,
          indexes.map((index) => ({
            type: 'RecordCallbackResult' as const,
            batchId,
            index,
            result: { status: 'failed' as const, error: 'No result arrived on the callback before the workflow timeout' },
            now,
          })),
        );
        for (const index of indexes) this.timers.removeDeadline(batchId, index);
      } catch (error) {
        this.logger.warn(`Expiring callback deadlines of batch ${batchId} failed: ${String(error)}`);
      }
    }
    this.arm();
  }
}
