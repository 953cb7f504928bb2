import { Inject, Injectable } from '@nestjs/common';
import { BatchCommandHandler } from '@flotilla/application';
import { IllegalBatchTransition, type WaveDue } from '@flotilla/domain';
import type { TypedMessage } from '@flotilla/messaging';
import { CLOCK, type Clock } from '@flotilla/platform';

/** Executions triggered per append: keeps each append (and the decision before it) small. */
export const TRIGGER_LIMIT = 500;

/**
 * Answers a due wave by triggering every pending execution of the batch whose time has come, a
 * limited number per append, until none is left. Each append carries the revision its decision was
 * made on, so once a pause or cancel is appended no trigger decided before it can land after it:
 * the decision is made again, refused, and this stops quietly.
 *
 * The first decision is also where a paced batch notices that its due executions are late (the
 * broker was away, this executor lagged): it then re-plans from now and triggers the new plan's
 * first wave instead (catch-up). The later steps of the same wave say `continuing`, so a wave
 * triggered in many steps is never taken for a late one.
 */
@Injectable()
export class WaveTrigger {
  constructor(
    private readonly batches: BatchCommandHandler,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async handle(message: TypedMessage<WaveDue>): Promise<void> {
    const { batchId, dueAt } = message.data;
    const dueAtMs = Date.parse(dueAt);
    for (let step = 0; ; step++) {
      let triggered: boolean;
      try {
        const result = await this.batches.handle(
          batchId,
          // Built at decision time, after any wait for the batch's lock. The wave's own due time is a
          // floor: with this clock behind the scheduler's, the wave's executions would look not yet
          // due, and no later WaveDue would come for the last wave.
          () => ({
            type: 'TriggerDueExecutions',
            batchId,
            now: new Date(Math.max(this.clock.now().getTime(), dueAtMs)),
            limit: TRIGGER_LIMIT,
            ...(step > 0 ? { continuing: true } : {}),
          }),
          { actor: 'executor', causationId: message.id },
        );
        triggered = result.events.some((event) => event.type === 'ExecutionTriggered');
      } catch (error) {
        // Paused, cancelled or completed: nothing more to trigger. Any other error goes back to the transport to retry.
        if (error instanceof IllegalBatchTransition) return;
        throw error;
      }
      if (!triggered) return;
    }
  }
}
