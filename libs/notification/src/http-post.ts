/** What came of one POST: a status code when a response arrived, an error when it was not a 2xx. */
export interface PostOutcome {
  readonly statusCode?: number;
  readonly error?: string;
  readonly durationMs: number;
}

export const isSuccess = (outcome: PostOutcome): boolean =>
  outcome.statusCode !== undefined && outcome.statusCode >= 200 && outcome.statusCode < 300;

/**
 * POSTs `body` and reports what happened; never throws for a failed request (a refused connection,
 * a timeout, a non-2xx answer are all outcomes to record). `abort` cuts the request short from
 * outside; the caller checks it to tell that apart from a timeout.
 */
export const post = async (
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  abort: AbortSignal,
): Promise<PostOutcome> => {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      body,
      headers,
      // A redirect is not followed: a signed event goes only to the URL that was registered.
      redirect: 'manual',
      signal: AbortSignal.any([timeout, abort]),
    });
    // The answer's body means nothing to us; dropping it frees the connection.
    await response.body?.cancel();
    const statusCode = response.status;
    return statusCode >= 200 && statusCode < 300
      ? { statusCode, durationMs: elapsed() }
      : { statusCode, error: `HTTP ${statusCode}`, durationMs: elapsed() };
  } catch (error) {
    return { error: timeout.aborted ? `timed out after ${timeoutMs} ms` : describe(error), durationMs: elapsed() };
  }
};

/**
 * fetch reports network failures as `TypeError: fetch failed`; the cause says what failed (e.g.
 * `connect ECONNREFUSED`). Duck-typed: under jest, Node's own errors are not this realm's `Error`.
 */
const describe = (error: unknown): string => {
  const messageOf = (value: unknown): string | undefined =>
    typeof value === 'object' && value !== null && 'message' in value && typeof value.message === 'string' ? value.message : undefined;
  const cause = typeof error === 'object' && error !== null && 'cause' in error ? error.cause : undefined;
  return messageOf(cause) ?? messageOf(error) ?? String(error);
};
