import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The token an async target must send back with its callback: HMAC-SHA256 of the execution id
 * under the callback secret, hex. Execution ids are guessable (`<batchId>.<index>`); the token is
 * not, so only the target that received the execution can settle it.
 *
 * It names the execution, not the attempt: a target that deduplicates by Idempotency-Key may
 * answer a later attempt with the work (and the token) of an earlier one; which attempt the outcome
 * counts for is the batch state's to say.
 */
export const callbackTokenOf = (secret: string, executionId: string): string =>
  createHmac('sha256', secret).update(executionId).digest('hex');

/** Whether `token` is the callback token of `executionId`, compared in constant time. */
export const isCallbackToken = (secret: string, executionId: string, token: unknown): boolean => {
  if (typeof token !== 'string') return false;
  const expected = Buffer.from(callbackTokenOf(secret, executionId));
  const given = Buffer.from(token);
  // The length of a token is no secret; timingSafeEqual needs equal lengths.
  return given.length === expected.length && timingSafeEqual(given, expected);
};
