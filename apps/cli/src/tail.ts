import { batchStream } from '@flotilla/application';
import type { EventStore, StoredEvent, Subscription } from '@flotilla/event-store';
import { historyLineOf, type HistoryLine } from './history';

export interface TailFilter {
  readonly batchId?: string;
  readonly type?: string;
}

/**
 * Follows the store from its end: every event appended from now on that passes the filter, by
 * this or any other process. The store filters by stream prefix and type; the exact stream is
 * checked here (the prefix `batch-b1` would also let `batch-b10` through).
 */
export const tailEvents = (
  store: EventStore,
  filter: TailFilter,
  onEvent: (line: HistoryLine & { readonly stream: string }) => void,
  onError: (error: unknown) => void,
): Subscription => {
  const stream = filter.batchId === undefined ? undefined : batchStream(filter.batchId);
  const passes = (event: StoredEvent): boolean =>
    (stream === undefined || event.streamName === stream) && (filter.type === undefined || event.type === filter.type);
  return store.subscribeToAll(
    {
      after: 'end',
      ...(stream === undefined && filter.type === undefined
        ? {}
        : { filter: stream !== undefined ? { streamPrefixes: [stream] } : { eventTypes: [filter.type ?? ''] } }),
    },
    {
      onEvents: (events) => {
        for (const event of events) if (passes(event)) onEvent({ stream: event.streamName, ...historyLineOf(event) });
      },
      onError,
    },
  );
};
