import { backoffDelay } from '@flotilla/domain';
import type { DeadLetter, EventMessage, MessageHandler } from './message';

export interface RetryPolicy {
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
  policy: RetryPolicy,
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
