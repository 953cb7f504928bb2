/**
 * Time-based waves. The item at position `rank` of a plan (0-based, in input order) runs at
 *
 *     executeAt = anchor + floor(rank / maxConcurrent) * batchIntervalSeconds
 *
 * A batch's first plan is anchored at its start time over all items; every resume makes a new plan
 * anchored at the resume time over the still-pending items, in their original order.
 */
export interface WaveSettings {
  readonly maxConcurrent: number;
  readonly batchIntervalSeconds: number;
}

export const waveOf = (rank: number, settings: WaveSettings): number => Math.floor(rank / settings.maxConcurrent);

/** Milliseconds since the epoch at which the wave starts. */
export const waveStart = (anchorMs: number, wave: number, settings: WaveSettings): number =>
  anchorMs + wave * settings.batchIntervalSeconds * 1000;

export const executeAtOf = (anchorMs: number, rank: number, settings: WaveSettings): number =>
  waveStart(anchorMs, waveOf(rank, settings), settings);

/** The execute time of the last of `count` items planned from `anchorMs`, or null when there are none. */
export const lastExecuteAtOf = (anchorMs: number, count: number, settings: WaveSettings): number | null =>
  count === 0 ? null : executeAtOf(anchorMs, count - 1, settings);
