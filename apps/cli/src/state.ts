import { batchStream } from '@flotilla/application';
import {
  batchEvents,
  estimatedCompletionOf,
  evolve,
  initialBatchState,
  isBatch,
  progressOf,
  type BatchProgress,
  type BatchSettings,
  type BatchState,
  type BatchStatus,
} from '@flotilla/domain';
import type { EventStore, GlobalPosition } from '@flotilla/event-store';
import { CliError } from './context';

/** A moment of a batch's life: a time (events recorded at or before it) or a global position (events at or before it). */
export type Moment = { readonly time: Date } | { readonly position: GlobalPosition };

/** `--at`: digits are a position as `history` prints it; anything else must be an ISO 8601 time. */
export const parseMoment = (raw: string): Moment => {
  const text = raw.trim();
  if (/^\d+$/.test(text)) return { position: BigInt(text) };
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw new CliError(`--at must be an ISO 8601 time (2026-01-31T12:00:00Z) or a position (digits), not "${raw}"`);
  return { time: new Date(ms) };
};

/** The batch as it was at a moment, as `state --json` prints it. */
export interface BatchAt {
  readonly batchId: string;
  /** The last event folded in: the state is the one right after it. */
  readonly asOf: { readonly position: string; readonly revision: number; readonly type: string; readonly recordedAt: string };
  readonly status: BatchStatus;
  readonly progress: BatchProgress;
  readonly schedule: {
    readonly startAt: string;
    readonly createdAt: string;
    readonly startedAt: string | null;
    readonly endedAt: string | null;
    readonly settledAt: string | null;
    /** 0 from the start time, +1 at every new plan (resume, reconfiguration, catch-up). */
    readonly plan: number;
    readonly estimatedCompletionAt: string | null;
  };
  readonly settings: BatchSettings;
  readonly held: { readonly by: string; readonly reason: string; readonly since: string } | null;
  readonly throttledUntil: string | null;
}

/**
 * Rebuilds the batch as it was at `moment` by folding its stream with the domain's own `evolve`,
 * from the first event up to the moment: the same fold the command handler makes, stopped early.
 */
export const batchAt = async (store: EventStore, batchId: string, moment: Moment): Promise<BatchAt> => {
  let state: BatchState = initialBatchState();
  let last: BatchAt['asOf'] | null = null;
  let seen = false;
  for await (const stored of store.readStream(batchStream(batchId))) {
    seen = true;
    if ('position' in moment ? stored.position > moment.position : stored.recordedAt.getTime() > moment.time.getTime()) break;
    const event = batchEvents.read(stored);
    if (event !== null) state = evolve(state, event);
    last = {
      position: stored.position.toString(),
      revision: stored.revision,
      type: stored.type,
      recordedAt: stored.recordedAt.toISOString(),
    };
  }
  if (!seen) throw new CliError(`No batch ${batchId} in the store`, 1);
  if (last === null || !isBatch(state))
    throw new CliError(
      `Batch ${batchId} did not exist yet at ${'position' in moment ? `position ${moment.position}` : moment.time.toISOString()}`,
      1,
    );
  return {
    batchId,
    asOf: last,
    status: state.status,
    progress: progressOf(state.counts),
    schedule: {
      startAt: state.settings.startAt,
      createdAt: state.createdAt,
      startedAt: state.startedAt,
      endedAt: state.endedAt,
      settledAt: state.settledAt,
      plan: state.plan,
      estimatedCompletionAt: estimatedCompletionOf(state),
    },
    settings: state.settings,
    held: state.held,
    throttledUntil: state.throttledUntil,
  };
};

/** `state` for people: one "key  value" line each, nested objects as JSON. */
export const describeBatchAt = (batch: BatchAt): string[] => {
  const { progress: p } = batch;
  const lines: [string, string][] = [
    ['batch', batch.batchId],
    ['as of', `position ${batch.asOf.position} (${batch.asOf.type}, recorded ${batch.asOf.recordedAt})`],
    ['status', batch.status + (batch.held ? ` (held by ${batch.held.by}: ${batch.held.reason})` : '')],
    [
      'progress',
      `${p.triggered}/${p.total} triggered (${p.percent}%), ${p.pending} pending, ${p.cancelled} cancelled, ` +
        `${p.completed} completed, ${p.failed} failed`,
    ],
    ['start at', batch.schedule.startAt],
    ['started', batch.schedule.startedAt ?? '-'],
    ['ended', batch.schedule.endedAt ?? '-'],
    ['plan', String(batch.schedule.plan)],
    ['estimated completion', batch.schedule.estimatedCompletionAt ?? '-'],
    ['throttled until', batch.throttledUntil ?? '-'],
    ['settings', JSON.stringify(batch.settings)],
  ];
  const width = Math.max(...lines.map(([key]) => key.length));
  return lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`);
};
