/**
 * Drops, from start times kept oldest first, those at or before `sinceMs`: what a sliding window
 * of starts (a workflow's maxPerSecond, a paced batch's waves) no longer counts.
 */
export const dropStartsUpTo = (starts: number[], sinceMs: number): void => {
  let old = 0;
  while (old < starts.length && starts[old]! <= sinceMs) old++;
  if (old > 0) starts.splice(0, old);
};
