import type { StoredEvent } from '@flotilla/event-store';
import type { StateDb } from '@flotilla/state';

/**
 * A projection turns events into read-model rows. It never decides anything: it records what the
 * events say. The runner calls `apply` inside a transaction that also moves the projection's
 * checkpoint, so an event is applied exactly once per read model (replaying changes nothing).
 */
export interface Projection {
  readonly name: string;
  /** Bump when the tables or the logic change: the runner then rebuilds the projection from zero. */
  readonly version: number;
  /** The event types it reads; the runner subscribes only to these. */
  readonly eventTypes: readonly string[];
  /** Deletes every row the projection wrote, before a rebuild. Its tables come from the state migrations. */
  reset(db: StateDb): void;
  apply(event: StoredEvent, db: StateDb): void;
  /** Called at the end of each transaction, for projections that aggregate across events. */
  flush?(db: StateDb): void;
  /** Called when a transaction rolled back, to drop what `apply` kept in memory for `flush`. */
  discard?(): void;
}

/** Reads a field of an event's data without trusting its shape (events come from outside the process). */
export const field = <T>(event: StoredEvent, name: string): T => (event.data as Record<string, T>)[name] as T;

export const isoToMs = (iso: unknown): number | null => (typeof iso === 'string' ? Date.parse(iso) : null);
