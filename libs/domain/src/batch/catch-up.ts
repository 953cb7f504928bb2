import type { WaveSettings } from './schedule';

/**
 * What a batch does with waves that fell due while nothing could fire them (the process was down,
 * the broker was away, the executor lagged):
 *
 * - `paced` (the default): the still-pending executions are re-planned from the moment the service
 *   is back, exactly as a resume re-plans them (`BatchReplanned`, actor `system`, reason
 *   `catch-up after downtime`), so the target never gets more than one wave per interval;
 * - `burst`: every overdue wave fires at once, in order (the behaviour before this setting existed).
 */
export const CATCH_UP_MODES = ['paced', 'burst'] as const;
export type CatchUp = (typeof CATCH_UP_MODES)[number];
export const DEFAULT_CATCH_UP: CatchUp = 'paced';

export const isCatchUp = (value: unknown): value is CatchUp => value === 'paced' || value === 'burst';

/** The reason `BatchReplanned` records when a paced batch catches up. */
export const CATCH_UP_REASON = 'catch-up after downtime';

/** The longest a wave may be late and still fire as planned. */
export const MAX_CATCH_UP_GRACE_MS = 2000;

/**
 * How late a due time may be met before a paced batch is re-planned instead: half its interval, at
 * most 2 seconds. Below it the wave fires as planned, and the next one still comes at least half an
 * interval after it (at least the interval less 2 s for long intervals), so a late wave never fires
 * together with the next. The figure is well above the lateness of a healthy deployment (tens of
 * milliseconds embedded, a few hundred from WaveDue to the call over Kafka, docs/performance.md),
 * so a batch that is merely busy is not re-planned; with sub-second intervals over Kafka it may be,
 * which keeps the pacing at the cost of a `BatchReplanned` in history. Interval 0 has no pacing to
 * keep: null, never re-planned.
 */
export const catchUpGraceMs = (waves: WaveSettings): number | null =>
  waves.batchIntervalSeconds > 0 ? Math.min(MAX_CATCH_UP_GRACE_MS, waves.batchIntervalSeconds * 500) : null;
