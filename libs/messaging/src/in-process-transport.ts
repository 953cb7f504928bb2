import type { EventStore, Subscription } from '@flotilla/event-store';
import type { CheckpointStore, HandledEvents } from '@flotilla/state';
import { deliverOnce, handleWithRetries } from './message-processing';
import {
  toMessage,
  type ConsumeOptions,
  type DeadLetter,
  type MessageConsumer,
  type MessageHandler,
  type MessageTransport,
} from './message';
import { OrderedWindow } from './ordered-window';

export const DEAD_LETTER_STREAM_CATEGORY = 'deadletters';

/**
 * The embedded transport: no broker, all in one process. Each consumer group is a subscription to
 * the event store that resumes from the group's stored checkpoint, which plays the part of a Kafka
 * consumer offset. Delivery is at least once (a crash replays from the checkpoint), in order per
 * key, and a message the group already handled is skipped by event id (`HandledEvents`, as over
 * Kafka); a message whose handler keeps failing is recorded on the `deadletters-<group>` stream.
 * A group has one consumer: there is no one to share its work with in one process, and two
 * subscriptions on one checkpoint would each handle everything.
 */
export class InProcessTransport implements MessageTransport {
  private readonly consumers = new Set<MessageConsumer>();
  private readonly groups = new Set<string>();

  constructor(
    private readonly store: EventStore,
    private readonly checkpoints: CheckpointStore,
    private readonly handled: HandledEvents,
    private readonly options: { retryBaseDelayMs?: number; onDeadLetter?: (letter: DeadLetter) => void } = {},
  ) {}

  async consume(options: ConsumeOptions, handler: MessageHandler): Promise<MessageConsumer> {
    if (this.groups.has(options.group)) {
      throw new Error(
        `Group ${options.group} already has a consumer: the in-process transport runs one consumer per group ` +
          `(several share a group's work only over Kafka)`,
      );
    }
    this.groups.add(options.group);
    const checkpointName = `group:${options.group}`;
    let stopping = false;
    const window = new OrderedWindow(options.concurrency ?? 1, (position) => this.checkpoints.set(checkpointName, position));
    const policy = { maxAttempts: options.maxAttempts ?? 5, baseDelayMs: this.options.retryBaseDelayMs ?? 200 };
    const deadLetter = async (letter: DeadLetter): Promise<void> => {
      this.options.onDeadLetter?.(letter);
      await this.store.appendToStream(`${DEAD_LETTER_STREAM_CATEGORY}-${options.group}`, [{ type: 'MessageDeadLettered', data: letter }]);
    };
    const subscription: Subscription = this.store.subscribeToAll(
      { after: this.checkpoints.get(checkpointName) ?? 'start', filter: { eventTypes: options.eventTypes }, maxBatchSize: 500 },
      {
        onEvents: async (events) => {
          // Which of these the group handled already: one look for the whole batch, not one per message.
          const alreadyHandled = this.handled.handledAmong(
            options.group,
            events.map((event) => event.id),
          );
          for (const event of events) {
            if (stopping) return;
            const message = toMessage(event);
            await deliverOnce(window, this.handled, alreadyHandled, event.position, message, options, (delivery) =>
              handleWithRetries(options.group, message, handler, policy, deadLetter, () => stopping, delivery),
            );
          }
        },
        onCheckpoint: (position) => window.mark(position),
      },
    );
    let stopped: Promise<void> | null = null;
    const consumer: MessageConsumer = {
      caughtUp: subscription.caughtUp,
      stop: () =>
        (stopped ??= (async () => {
          stopping = true;
          this.consumers.delete(consumer);
          await subscription.stop();
          await window.drain();
          this.groups.delete(options.group);
        })()),
    };
    this.consumers.add(consumer);
    return consumer;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((consumer) => consumer.stop()));
  }
}
