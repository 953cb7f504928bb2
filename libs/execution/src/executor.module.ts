import { Inject, Injectable, Logger, Module, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BatchCommandHandler } from '@flotilla/application';
import { batchEvents } from '@flotilla/domain';
import { consumeEvents, type MessageConsumer, type MessageTransport } from '@flotilla/messaging';
import { CLOCK, CONFIG, MESSAGE_TRANSPORT, Metrics, OutboundRules, type Clock, type PlatformConfig } from '@flotilla/platform';
import { StateDb } from '@flotilla/state';
import { CallSlots } from './call-slots';
import { ExecutionDispatcher } from './execution-dispatcher';
import { HeldBatches } from './held-batches';
import { OutcomeWriter } from './outcome-writer';
import { ParkedBatches } from './parked-batches';
import { TargetCalls } from './target-client';
import { ThreadedTargetClient } from './threaded-target-client';
import { WaveTrigger } from './wave-trigger';
import { WorkflowThrottle } from './workflow-throttle';

export const TRIGGER_GROUP = 'executor-trigger';
export const DISPATCH_GROUP = 'executor-dispatch';
export const HOLDS_GROUP = 'executor-holds';
/**
 * Batches whose due waves are triggered at once; each batch's own waves still go one at a time, in
 * order. A wave of a batch past its window here waits for room between its appends (WaveTrigger),
 * for as long as the batch runs, so this is more than the big batches that run at once are likely
 * to be: a small batch's wave is not kept behind them.
 */
const TRIGGER_CONCURRENCY = 32;

/** Starts the executor's consumer groups with the application and stops them before the shared resources close. */
@Injectable()
export class ExecutorConsumers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumers: MessageConsumer[] = [];

  constructor(
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    @Inject(CONFIG) private readonly config: PlatformConfig,
    private readonly trigger: WaveTrigger,
    private readonly dispatcher: ExecutionDispatcher,
    private readonly client: TargetCalls,
    private readonly held: HeldBatches,
    throttle: WorkflowThrottle,
    metrics: Metrics,
  ) {
    metrics.observe(
      'flotilla_executor_queue_depth',
      "Executions in this executor's queue: waiting for a call slot, calling, waiting to retry, or parked",
      () => dispatcher.queueDepth(),
    );
    metrics.observe('flotilla_throttled_workflows', 'Workflows this executor is slowing down after a 429 from their target', () =>
      throttle.throttledCount(),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    // The executions parked before a restart have no message left to bring them back.
    await this.dispatcher.recoverParked();
    this.consumers = [
      await consumeEvents(
        this.transport,
        { group: TRIGGER_GROUP, events: batchEvents.subset('WaveDue'), ordering: 'key', concurrency: TRIGGER_CONCURRENCY },
        (message) => this.trigger.handle(message),
      ),
      // Executions are independent of each other: no per-batch ordering. The window holds every
      // triggered execution (EXECUTOR_QUEUE_DEPTH, 1,000,000 by default): they wait for a call slot
      // in the slots' fair queue, by priority and in turns between batches, which only works if
      // they are all inside it. Each waits as a deferred message (a window entry and its settle
      // function) and a light waiter in the line, not as a handler in progress, up to
      // EXECUTOR_BATCH_WINDOW of one batch; past that a batch's executions are parked, a bit each,
      // their messages acknowledged. The call slots bound the real calls. After a restart the
      // transport redelivers the unacknowledged messages, and the parked ones are found again from
      // their batch state, and so the queue is rebuilt.
      await consumeEvents(
        this.transport,
        {
          group: DISPATCH_GROUP,
          events: batchEvents.subset('ExecutionTriggered'),
          ordering: 'none',
          concurrency: this.config.executorQueueDepth,
        },
        (message, delivery) => this.dispatcher.handle(message, delivery),
      ),
      // Holds and releases reach the executions already waiting here for a call slot. In order per
      // batch, so a hold and its release are never applied the other way round.
      await consumeEvents(
        this.transport,
        { group: HOLDS_GROUP, events: batchEvents.subset('BatchHeld', 'BatchReleased'), ordering: 'key', concurrency: 8 },
        (message) => {
          if (message.type === 'BatchHeld') this.held.hold(message.data.batchId);
          else this.held.release(message.data.batchId);
          return Promise.resolve();
        },
      ),
    ];
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Stopping first marks the consumers as stopping, so the handlers that the abort below makes
    // throw are left unacknowledged (redelivered after the restart) rather than retried or
    // dead-lettered; the abort settles the deferred ones 'failed', which the consumers' stop waits for.
    const stopped = Promise.all(this.consumers.map((consumer) => consumer.stop()));
    this.dispatcher.stop();
    await stopped;
    this.consumers = [];
    await this.client.close();
  }
}

/**
 * The executor: triggers the executions of due waves and calls their workflow targets. Relies on
 * the global CoreModule for the store, the transport, the repositories, the clock and the config.
 */
@Module({
  providers: [
    {
      provide: TargetCalls,
      inject: [CONFIG],
      useFactory: (config: PlatformConfig) =>
        new ThreadedTargetClient({ maxSocketsPerOrigin: config.executorConcurrency, outbound: OutboundRules.settingsOf(config) }, (error) =>
          new Logger('TargetCalls').warn(`Target calls are made on the main thread from now on: ${error.message}`),
        ),
    },
    { provide: OutcomeWriter, inject: [BatchCommandHandler], useFactory: (batches: BatchCommandHandler) => new OutcomeWriter(batches) },
    {
      provide: CallSlots,
      inject: [CONFIG],
      useFactory: (config: PlatformConfig) => new CallSlots(config.executorConcurrency, undefined, { fair: config.executorFairness }),
    },
    { provide: HeldBatches, useFactory: () => new HeldBatches() },
    { provide: ParkedBatches, inject: [StateDb], useFactory: (db: StateDb) => new ParkedBatches(db) },
    {
      provide: WorkflowThrottle,
      inject: [CLOCK],
      useFactory: (clock: Clock) => new WorkflowThrottle({ now: () => clock.now().getTime() }),
    },
    WaveTrigger,
    ExecutionDispatcher,
    ExecutorConsumers,
  ],
  exports: [TargetCalls, OutcomeWriter, CallSlots, HeldBatches, WorkflowThrottle],
})
export class ExecutorModule {}
