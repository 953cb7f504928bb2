import { backoffDelay } from '@flotilla/domain';
import type { HandledEvents } from '@flotilla/state';
import type { ConsumeOptions, DeadLetter, Delivery, EventMessage, MessageHandler } from './message';
import type { OrderedWindow } from './ordered-window';

export interface RedeliveryPolicy {
  readonly maxAttempts: number;
  /** First delay between attempts; doubled each time. */
  readonly baseDelayMs: number;
}

/**
 * Calls the handler until it succeeds or has failed `maxAttempts` times; then hands the message to
 * `deadLetter` so the rest of the stream keeps flowing. A handler that deferred the message
 * (`delivery.defer()`) has taken it over: it is not called again, whatever it returns.
 */
export const handleWithRetries = async (
  group: string,
  message: EventMessage,
  handler: MessageHandler,
  policy: RedeliveryPolicy,
  deadLetter: (letter: DeadLetter) => Promise<void>,
  isStopping: () => boolean = () => false,
  delivery: Delivery = { defer: noDefer },
): Promise<void> => {
  let deferred = false;
  const watched: Delivery = {
    defer: () => {
      deferred = true;
      return delivery.defer();
    },
  };
  for (let attempt = 1; ; attempt++) {
    try {
      await handler(message, watched);
      return;
    } catch (error) {
      if (deferred) return;
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

/** For a caller with no window behind it: deferring settles nothing. */
const noDefer = (): ((outcome: 'done' | 'failed') => void) => () => undefined;

/**
 * Hands one message to the ordered window at most once per group, by event id: a message this
 * group already handled (delivered again after a crash, a rebalance or a republish) only moves the
 * commit on. Work that completes, by success or dead letter, is remembered; work that fails (a
 * consumer stopped mid-work) is not, so it is delivered and done again. Deferred work is remembered
 * when it is settled 'done'.
 */
export const deliverOnce = async (
  window: OrderedWindow,
  handled: HandledEvents,
  alreadyHandled: ReadonlySet<string>,
  position: bigint,
  message: EventMessage,
  options: ConsumeOptions,
  work: (delivery: Delivery) => Promise<void>,
): Promise<void> => {
  if (alreadyHandled.has(message.id)) {
    window.mark(position);
    return;
  }
  await window.push(
    position,
    options.ordering === 'none' ? null : message.key,
    (defer) => work({ defer }),
    rememberer(handled, options.group, message.id),
  );
};

/** Its own scope: a deferred message keeps this until it is settled, and must not keep the message with it. */
const rememberer =
  (handled: HandledEvents, group: string, id: string): (() => void) =>
  () =>
    handled.remember(group, id);
