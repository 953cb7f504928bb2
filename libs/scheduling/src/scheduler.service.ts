import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BatchCommandHandler } from '@flotilla/application';
import { batchEvents, type RegisteredEvent } from '@flotilla/domain';
import { consumeEvents, type MessageConsumer, type MessageTransport, type TypedMessage } from '@flotilla/messaging';
import { CLOCK, MESSAGE_TRANSPORT, type Clock } from '@flotilla/platform';
import { StateDb, TimerStore } from '@flotilla/state';
import { BatchTimers } from './batch-timers';
import { CallbackDeadlines } from './callback-deadlines';

/** The events that move a timer. */
const scheduledEvents = batchEvents.subset(
  'BatchCreated',
  'BatchStarted',
  'WaveDue',
  'ExecutionRescheduled',
  'BatchPaused',
  'BatchResumed',
  'BatchReconfigured',
  'BatchReplanned',
  'BatchHeld',
  'BatchReleased',
  'BatchCancelled',
  'BatchCompleted',
  'ExecutionAccepted',
  'ExecutionCompleted',
  'ExecutionFailed',
);

type ScheduledMessage = TypedMessage<RegisteredEvent<typeof scheduledEvents>>;

/**
 * Owns the durable timers: the start time of each pending batch, the due time of each wave, and
 * the callback deadline of each execution accepted by an async target (the acceptance carries it:
 * the workflow's target.callbackTimeoutMs after the target accepted).
 *
 * Nothing is trusted to memory alone. The timers are derived from the batch's state, rebuilt from
 * its stream, every time something that moves them happens (creation, start, wave due, resume,
 * reconfiguration, catch-up re-plan, reschedule) and at start-up for every batch still active, so a
 * restart re-plans from the store. Due times that passed while the process was down fire at once:
 * a paced batch (the default) is then re-planned from now by the decider (BatchReplanned), a burst
 * one has its missed waves declared one by one, in order. Which batches are active, and which callbacks are awaited, is kept
 * in the TimerStore, maintained from the same events.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly store: TimerStore;
  private readonly batchTimers: BatchTimers;
  private readonly deadlines: CallbackDeadlines;
  private consumer: MessageConsumer | null = null;

  constructor(
    batches: BatchCommandHandler,
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    @Inject(CLOCK) clock: Clock,
    state: StateDb,
  ) {
    this.store = new TimerStore(state);
    this.batchTimers = new BatchTimers(batches, clock);
    this.deadlines = new CallbackDeadlines(batches, this.store, clock);
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const batchId of this.store.activeBatches()) await this.batchTimers.replan(batchId);
    this.deadlines.arm();
    this.consumer = await consumeEvents(this.transport, { group: 'scheduler', events: scheduledEvents, concurrency: 16 }, (message) =>
      this.onMessage(message),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.batchTimers.stop();
    this.deadlines.stop();
    await this.consumer?.stop();
  }

  private async onMessage(message: ScheduledMessage): Promise<void> {
    const batchId = message.data.batchId;
    switch (message.type) {
      case 'BatchCreated':
        this.store.addActiveBatch(batchId);
        return this.batchTimers.replan(batchId);
      case 'BatchCancelled':
      case 'BatchCompleted':
        this.store.removeActiveBatch(batchId);
        return this.batchTimers.clear(batchId);
      case 'ExecutionAccepted': {
        const { index, attempt, deadline } = message.data;
        if (deadline === undefined) return;
        this.store.setDeadline({ batchId, index, attempt, deadline: Date.parse(deadline) });
        return this.deadlines.arm();
      }
      case 'ExecutionCompleted':
      case 'ExecutionFailed':
        return this.store.removeDeadline(batchId, message.data.index);
      default:
        return this.batchTimers.replan(batchId);
    }
  }
}
