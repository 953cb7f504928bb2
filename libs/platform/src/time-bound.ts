/**
 * `work`, or a rejection naming `what` once `ms` have passed without an answer: how a probe or a
 * scrape keeps a dependency that hangs from hanging its caller. The timer is cleared either way.
 */
export const withinMs = <T>(work: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
};
