import type { DomainEvent, EventRegistry } from '@flotilla/domain';
import type { Recorded } from '@flotilla/event-store';
import type { StateDb } from '@flotilla/state';

/**
 * A projection turns events into read-model rows. It never decides anything: it records what the
 * events say. The runner calls `apply` inside a transaction that also moves the projection's
 * checkpoint, so an event is applied exactly once per read model (replaying changes nothing).
 */
export interface Projection<E extends DomainEvent = DomainEvent> {
  readonly name: string;
  /** Bump when the tables or the logic change: the runner then rebuilds the projection from zero. */
  readonly version: number;
  /** The events it reads, as a registry (subset): the runner subscribes only to these and hands them over typed and upcast. */
  readonly events: EventRegistry<E>;
  /** The tables it writes, and no other projection does: what `reset` empties, `flotilla replay` swaps and `flotilla verify` compares. */
  readonly tables: readonly string[];
  /** Deletes every row the projection wrote, before a rebuild. Its tables come from the state migrations. */
  reset(db: StateDb): void;
  apply(event: Recorded<E>, db: StateDb): void;
  /** Called at the end of each transaction, for projections that aggregate across events. */
  flush?(db: StateDb): void;
  /** Called when a transaction rolled back, to drop what `apply` kept in memory for `flush`. */
  discard?(): void;
  /**
   * Does one bounded slice of the work `apply` left for later, in its own transaction, and says
   * whether some is left: for work too big for one transaction on the event loop (deleting a
   * million rows). The runner calls it between transactions until it says none is left; the rows
   * a rebuild makes equal the live ones once both are settled (`settleFully`).
   */
  settle?(db: StateDb): boolean;
}

/** Runs `projection`'s deferred work to its end: what `flotilla replay` and `verify` do before they hand over or compare. */
export const settleFully = (db: StateDb, projection: Projection): void => {
  while (projection.settle?.(db) === true) {
    // each call is one slice
  }
};

export const isoToMs = (iso: unknown): number | null => (typeof iso === 'string' ? Date.parse(iso) : null);
