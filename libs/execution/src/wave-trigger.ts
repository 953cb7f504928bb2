import { Inject, Injectable, Optional } from '@nestjs/common';
import { BatchCommandHandler } from '@flotilla/application';
import { IllegalBatchTransition, type WaveDue } from '@flotilla/domain';
import type { TypedMessage } from '@flotilla/messaging';
import { CLOCK, type Clock } from '@flotilla/platform';
import { ExecutionDispatcher, type Room } from './execution-dispatcher';

/** Executions triggered per append: keeps each append (and the decision before it) small. */
export const TRIGGER_LIMIT = 500;

/**
 * Executions triggered by a wave's first append: one, written, delivered and called before the rest
 * of the wave is decided, so the target sees the wave start on time (the lateness of its first
 * call). Each execution called before the next step delays the rest of the wave's triggers by its
 * call's work on this event loop, so one is also what keeps those on time (docs/performance.md).
 */
export const FIRST_TRIGGER_LIMIT = 1;

/** What the trigger waits for between its appends: the dispatcher of this process (ExecutionDispatcher). */
export interface DispatcherHere {
  /** After a wave's first append: that execution's call is out. */
  firstCallsOut(batchId: string): Promise<void>;
  /** After a full append: the batch's executions here are under its window (absent: never waited for). */
  roomFor?(batchId: string): Promise<Room>;
}

/**
 * Answers a due wave by triggering every pending execution of the batch whose time has come, a
 * limited number per append, until none is left: first FIRST_TRIGGER_LIMIT, then, once the
 * dispatcher of this process has called those it has (ExecutionDispatcher.firstCallsOut), the
 * others TRIGGER_LIMIT at a time, each step once the dispatcher here has room for the batch
 * (ExecutionDispatcher.roomFor). So a batch whose waves are all due at once (interval 0, a late
 * start) is triggered about as fast as it is called. Over Kafka the window is the whole queue, so
 * that wait does not come; nor does it once the batch's calls stall here (held, throttled, calls
 * slower than ROOM_STALL_MS): the rest is then triggered at once, and the dispatcher parks what is
 * past its window. Each append carries the revision its decision was made on, so
 * once a pause or cancel is appended no trigger decided before it can land after it: the decision
 * is made again, refused, and this stops quietly.
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
    /** Absent (tests without a dispatcher): the steps follow each other at once. */
    @Optional() @Inject(ExecutionDispatcher) private readonly dispatcher: DispatcherHere | null = null,
  ) {}

  async handle(message: TypedMessage<WaveDue>): Promise<void> {
    const { batchId, dueAt } = message.data;
    const dueAtMs = Date.parse(dueAt);
    let waitForRoom = this.dispatcher?.roomFor !== undefined;
    for (let step = 0; ; step++) {
      let triggered: number;
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
            limit: step === 0 ? FIRST_TRIGGER_LIMIT : TRIGGER_LIMIT,
            ...(step > 0 ? { continuing: true } : {}),
          }),
          { actor: 'executor', causationId: message.id },
        );
        triggered = result.events.filter((event) => event.type === 'ExecutionTriggered').length;
      } catch (error) {
        // Paused, cancelled or completed: nothing more to trigger. Any other error goes back to the transport to retry.
        if (error instanceof IllegalBatchTransition) return;
        throw error;
      }
      if (triggered === 0) return;
      // The next decision holds the batch's lock through its append (and its fsync), and the
      // dispatcher reads the batch under that lock twice before a call: without this wait the
      // wave's first call would come after the next step's append. Only the executions delivered
      // here by now are waited for (in this process they are; over Kafka, usually none yet).
      if (step === 0 && triggered === FIRST_TRIGGER_LIMIT) await this.dispatcher?.firstCallsOut(batchId);
      // A step short of the limit triggered the last due ones: the next finds none, no need to wait for it.
      else if (waitForRoom && triggered === TRIGGER_LIMIT) waitForRoom = (await this.dispatcher?.roomFor?.(batchId)) === 'room';
    }
  }
}
