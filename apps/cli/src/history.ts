import { batchStream } from '@flotilla/application';
import type { EventStore, StoredEvent } from '@flotilla/event-store';
import { CliError } from './context';
import { alignedTable } from './table';

/** One event of a batch's history, as `history --json` prints it (one object per line). */
export interface HistoryLine {
  /** The store's global position: `state --at <position>` takes it. */
  readonly position: string;
  /** The event's index in the batch's stream. */
  readonly revision: number;
  readonly type: string;
  /** When it happened (the event's occurredAt), else when it was stored. */
  readonly time: string;
  readonly recordedAt: string;
  readonly actor: string | null;
  readonly reason: string | null;
  /** The event's data without what the other fields already say (batchId, occurredAt, actor, reason). */
  readonly data: Record<string, unknown>;
}

export interface HistoryFilter {
  readonly type?: string;
  readonly actor?: string;
}

/**
 * Who did it and why: operator actions carry them in their data, any event may carry them in its
 * metadata (read as the history projection reads them).
 */
export const historyLineOf = (event: StoredEvent): HistoryLine => {
  const { batchId: _batchId, occurredAt, actor, reason, ...data } = (event.data ?? {}) as Record<string, unknown>;
  const said = (value: unknown, fallback: unknown): string | null =>
    typeof value === 'string' ? value : typeof fallback === 'string' ? fallback : null;
  return {
    position: event.position.toString(),
    revision: event.revision,
    type: event.type,
    time: typeof occurredAt === 'string' ? occurredAt : event.recordedAt.toISOString(),
    recordedAt: event.recordedAt.toISOString(),
    actor: said(actor, event.metadata.actor),
    reason: said(reason, event.metadata.reason),
    data,
  };
};

export const matchesHistoryFilter = (line: HistoryLine, filter: HistoryFilter): boolean =>
  (filter.type === undefined || line.type === filter.type) && (filter.actor === undefined || line.actor === filter.actor);

/** Every event of the batch's stream in order, read from the store itself (not a read model), filtered. */
export async function* batchHistory(store: EventStore, batchId: string, filter: HistoryFilter = {}): AsyncGenerator<HistoryLine> {
  let seen = false;
  for await (const event of store.readStream(batchStream(batchId))) {
    seen = true;
    const line = historyLineOf(event);
    if (matchesHistoryFilter(line, filter)) yield line;
  }
  if (!seen) throw new CliError(`No batch ${batchId} in the store`, 1);
}

export const HISTORY_HEADER = ['TIME', 'POSITION', 'TYPE', 'ACTOR', 'REASON', 'DATA'] as const;

export const historyRow = (line: HistoryLine): string[] => [
  line.time,
  line.position,
  line.type,
  line.actor ?? '',
  line.reason ?? '',
  Object.keys(line.data).length === 0 ? '' : JSON.stringify(line.data),
];

export const historyTable = (lines: readonly HistoryLine[]): string[] => alignedTable(HISTORY_HEADER, lines.map(historyRow));
