/**
 * The one way tests wait for something asynchronous (a subscription catching up, a batch settling, a
 * call arriving) instead of sleeping a fixed time. Imported as `@flotilla/testing/poll` from any
 * project's tests: it depends on nothing, so every layer may use it (eslint allows exactly this path).
 */
const POLL_EVERY_MS = 10;

/** Probes until `accept` takes the value, and returns it; throws naming `what` and the last value after `timeoutMs`. */
export const eventually = async <T>(
  probe: () => T | Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (accept(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
  }
};

/** Waits until `condition` holds. */
export const until = async (condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> => {
  await eventually(condition, (holds) => holds, timeoutMs, what);
};
