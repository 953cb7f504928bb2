import { backoffDelay } from '@flotilla/domain';
import type { HandledEvents } from '@flotilla/state';
import type { ConsumeOptions, DeadLetter, EventMessage, MessageHandler } from './message';
import type { OrderedWindow } from './ordered-window';

export interface RedeliveryPolicy {
  readonly maxAttempts: number;
  /** First delay between attempts; doubled each time. */
  readonly baseDelayMs: number;
}

/**
 * Calls the handler until it succeeds or has failed `maxAttempts` times; then hands the message to
 * `deadLetter` so the rest of the stream keeps flowing.
 */
export const handleWithRetries = async (
  group: string,
  message: EventMessage,
  handler: MessageHandler,
  policy: RedeliveryPolicy,
  deadLetter: (letter: DeadLetter) => Promise<void>,
  isStopping: () => boolean = () => false,
): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      await handler(message);
      return;
    } catch (error) {
      if (attempt >= policy.maxAttempts || isStopping()) {
        if (isStopping()) throw error;
        await deadLetter({
          group,
          message,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          attempts: attempt,
          failedAt: new Date().toISOString(),
        });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, { baseMs: policy.baseDelayMs })));
    }
  }
};

/**
 * Hands one message to the ordered window at most once per group, by event id: a message this
 * group already handled (delivered again after a crash, a rebalance or a republish) only moves the
 * commit on. Work that completes, by success or dead letter, is remembered; work that fails (a
 * consumer stopped mid-work) is not, so it is delivered and done again.
 */
export const deliverOnce = async (
  window: OrderedWindow,
  handled: HandledEvents,
  alreadyHandled: ReadonlySet<string>,
  position: bigint,
  message: EventMessage,
  options: ConsumeOptions,
  work: () => Promise<void>,
): Promise<void> => {
  if (alreadyHandled.has(message.id)) {
    window.mark(position);
    return;
  }
  await window.push(position, options.ordering === 'none' ? null : message.key, async () => {
    await work();
    handled.remember(options.group, message.id);
  });
};
