/** A batch's priority: 1 to 100, lower runs first (as in the Extend API, whose compatible endpoint uses 90). */
export const DEFAULT_BATCH_PRIORITY = 50;
export const MIN_BATCH_PRIORITY = 1;
export const MAX_BATCH_PRIORITY = 100;
