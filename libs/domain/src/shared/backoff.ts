/**
 * The one backoff formula: the delay before attempt `attempt + 1` after `attempt` (1-based) failed is
 * `baseMs * 2^(attempt - 1)`, capped at `capMs`. With `random` (returning [0, 1)) it is "full jitter":
 * a uniform delay below that ceiling, so the retries of many failures that happened together spread
 * out instead of arriving in lockstep. Without it the delay is the ceiling itself. Pure: randomness
 * comes in as an argument.
 */
export const backoffDelay = (
  attempt: number,
  policy: { readonly baseMs: number; readonly capMs?: number },
  random?: () => number,
): number => {
  const ceiling = Math.min(policy.capMs ?? Number.POSITIVE_INFINITY, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return random === undefined ? ceiling : Math.floor(random() * ceiling);
};
