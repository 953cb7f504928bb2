/**
 * The rate limit of `POST /workflow_runs/batch`: a token bucket of inputs, `perMinute` deep, refilled
 * continuously at `perMinute` a minute. A request takes one token per input or is refused whole,
 * with the seconds until it would fit (the `Retry-After` of the 429). A request larger than the
 * bucket fits when the bucket is full, and empties it. Time comes in with each call: no clock here.
 */
export class InputRateLimit {
  private tokens: number;
  private lastMs: number | null = null;

  constructor(private readonly perMinute: number) {
    this.tokens = perMinute;
  }

  /** Takes `inputs` tokens at `nowMs`; null when taken, else the whole seconds to wait (at least 1). */
  take(inputs: number, nowMs: number): number | null {
    const ratePerMs = this.perMinute / 60_000;
    if (this.lastMs !== null) this.tokens = Math.min(this.perMinute, this.tokens + Math.max(0, nowMs - this.lastMs) * ratePerMs);
    this.lastMs = nowMs;
    const needed = Math.min(inputs, this.perMinute);
    if (this.tokens >= needed) {
      this.tokens -= needed;
      return null;
    }
    return Math.max(1, Math.ceil((needed - this.tokens) / ratePerMs / 1000));
  }
}
