import { MAX_BACKOFF_MS, MAX_RETRY_AFTER_MS, retryDelay, isRetryable, parseRetryAfter } from './retry-policy';

const now = new Date('2026-05-01T12:00:00Z');
const policy = { maxAttempts: 5, backoffMs: 100 };
const always = (value: number) => () => value;

describe('retryDelay', () => {
  it('doubles the ceiling per attempt and draws below it (full jitter)', () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelay(attempt, policy, undefined, always(0.5), now))).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3].map((attempt) => retryDelay(attempt, policy, undefined, always(0), now))).toEqual([0, 0, 0]);
    expect(retryDelay(3, policy, undefined, always(0.999999), now)).toBe(399);
  });

  it('stays within [0, ceiling) over many random draws', () => {
    const delays = Array.from({ length: 1000 }, () => retryDelay(3, policy, undefined, Math.random, now));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(400);
    // Jitter really spreads them: not all in one narrow band.
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(200);
  });

  it('caps the ceiling at 60 s however many attempts came before', () => {
    expect(retryDelay(30, policy, undefined, always(0.5), now)).toBe(MAX_BACKOFF_MS / 2);
    expect(retryDelay(1000, { backoffMs: 3_600_000 }, undefined, always(0.999999), now)).toBeLessThan(MAX_BACKOFF_MS);
  });

  it('uses Retry-After in seconds instead of the backoff, without jitter', () => {
    expect(retryDelay(1, policy, '1', always(0.5), now)).toBe(1000);
    expect(retryDelay(4, policy, ' 30 ', always(0), now)).toBe(30_000);
    expect(retryDelay(1, policy, '0', always(0.5), now)).toBe(0);
  });

  it('uses Retry-After as an HTTP date, relative to now; a past date means at once', () => {
    expect(retryDelay(1, policy, 'Fri, 01 May 2026 12:00:07 GMT', always(0.5), now)).toBe(7000);
    expect(retryDelay(1, policy, 'Fri, 01 May 2026 11:59:00 GMT', always(0.5), now)).toBe(0);
  });

  it('caps Retry-After at 5 minutes', () => {
    expect(retryDelay(1, policy, '86400', always(0.5), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryDelay(1, policy, 'Sat, 02 May 2026 12:00:00 GMT', always(0.5), now)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('falls back to the backoff when Retry-After is unreadable', () => {
    expect(retryDelay(2, policy, 'soon', always(0.5), now)).toBe(100);
    expect(retryDelay(2, policy, '-5', always(0.5), now)).toBe(100);
    expect(retryDelay(2, policy, '1.5', always(0.5), now)).toBe(100);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and dates, and nothing else', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Fri, 01 May 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('', now)).toBeUndefined();
  });
});

describe('isRetryable', () => {
  it('retries throttling, server errors, timeouts and connection errors; not other statuses or an oversized body', () => {
    expect([429, 500, 502, 503, 504, 599].map(isRetryable)).toEqual([true, true, true, true, true, true]);
    expect([200, 301, 400, 401, 404, 409, 422, 600].map(isRetryable)).toEqual([false, false, false, false, false, false, false, false]);
    expect(isRetryable({ kind: 'failure', reason: 'timeout', error: 'timed out after 5 ms' })).toBe(true);
    expect(isRetryable({ kind: 'failure', reason: 'connection', error: 'connection refused (ECONNREFUSED)' })).toBe(true);
    expect(isRetryable({ kind: 'failure', reason: 'too_large', error: 'response body exceeds 10 bytes' })).toBe(false);
  });
});
