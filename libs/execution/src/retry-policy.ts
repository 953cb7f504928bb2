import { backoffDelay, type RetryPolicy } from '@flotilla/domain';
import type { CallFailure } from './target-client';

/** The computed backoff never exceeds this, however many attempts came before. */
export const MAX_BACKOFF_MS = 60_000;
/** A target's Retry-After is honoured up to this; a longer one would hold a dispatch slot for too long. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Whether another attempt may succeed: throttling (429), server errors (5xx), timeouts and
 * connection errors are transient; other 4xx and an oversized response would fail the same way again.
 */
export const isRetryable = (statusOrFailure: number | CallFailure): boolean =>
  typeof statusOrFailure === 'number'
    ? statusOrFailure === 429 || (statusOrFailure >= 500 && statusOrFailure <= 599)
    : statusOrFailure.reason !== 'too_large';

/**
 * The delay a `Retry-After` header asks for, in ms: either delay-seconds or an HTTP date (a date in
 * the past means now). Undefined when absent or unreadable, so the caller falls back to its backoff.
 */
export const parseRetryAfter = (header: string | undefined, now: Date): number | undefined => {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Every HTTP-date form starts with a day name; Date.parse alone would take '-5' or '1.5' for dates.
  if (!/^[A-Za-z]{3}/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
};

/**
 * How long to wait after the failed attempt number `attempt` (1-based) before the next one.
 *
 * Exponential backoff with full jitter: a uniform delay in [0, min(cap, base * 2^(attempt-1))). Full
 * jitter spreads the retries of a wave that failed together, so they do not hit a recovering target
 * in lockstep. A target that says when to come back (Retry-After) knows better: its delay is used
 * as is, without jitter, up to MAX_RETRY_AFTER_MS. `random` returns [0, 1) and `now` reads HTTP dates.
 */
export const retryDelay = (
  attempt: number,
  policy: Pick<RetryPolicy, 'backoffMs'>,
  retryAfterHeader: string | undefined,
  random: () => number,
  now: Date,
): number => {
  const retryAfter = parseRetryAfter(retryAfterHeader, now);
  if (retryAfter !== undefined) return Math.min(retryAfter, MAX_RETRY_AFTER_MS);
  return backoffDelay(attempt, { baseMs: policy.backoffMs, capMs: MAX_BACKOFF_MS }, random);
};
