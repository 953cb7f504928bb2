import type { DomainEvent } from '@flotilla/domain';
import type { EventStore, GlobalPosition, Recorded, StoredEvent, Subscription } from '@flotilla/event-store';
import type { Projection } from './projection';
import type { StateDb } from '@flotilla/state';

export interface ProjectionRunnerOptions {
  readonly maxBatchSize?: number;
  readonly onError?: (error: unknown) => void;
  /**
   * Applies nothing after this position (inclusive bound), so a rebuild can stop exactly where
   * another copy of the projection stands and be compared with it (`flotilla verify`).
   */
  readonly until?: GlobalPosition;
  /**
   * Called after each committed transaction with the events it read and the position reached: for
   * progress reports, and for the live streams, which read what those events changed.
   */
  readonly onApplied?: (events: readonly StoredEvent[], position: GlobalPosition) => void;
}

interface Checkpoint {
  position: GlobalPosition | null;
}

/**
 * Keeps a set of projections up to date from one subscription to the event store.
 *
 * Each projection has its own checkpoint (the position of the last event it applied), stored in
 * the read-model database and moved in the same transaction as the rows the events produced: an
 * event at or before a projection's checkpoint is skipped, so replaying changes nothing, and a
 * crash loses nothing. The subscription starts after the lowest checkpoint.
 */
export class ProjectionRunner {
  private subscription: Subscription | null = null;
  private readonly checkpoints = new Map<string, Checkpoint>();
  private readonly waiters: { position: GlobalPosition; resolve: () => void }[] = [];
  private failure: unknown = null;
  /** The next slice of the projections' deferred work (`settle`), while some is left. */
  private settling: NodeJS.Immediate | null = null;

  constructor(
    private readonly store: EventStore,
    private readonly db: StateDb,
    private readonly projections: readonly Projection[],
    private readonly options: ProjectionRunnerOptions = {},
  ) {}

  /** Starts applying events; resolves once the projections have caught up with the store. */
  async start(): Promise<void> {
    if (this.subscription) return;
    this.failure = null;
    for (const projection of this.projections) this.load(projection);
    const eventTypes = [...new Set(this.projections.flatMap((projection) => projection.events.types))];
    const after = this.lowestCheckpoint();
    this.subscription = this.store.subscribeToAll(
      { after: after ?? 'start', filter: { eventTypes }, maxBatchSize: this.options.maxBatchSize ?? 2000 },
      {
        onEvents: (events) => this.applyBatch(events),
        onCheckpoint: (position) => this.advanceTo(position),
        onError: (error) => this.fail(error),
      },
    );
    await this.subscription.caughtUp;
    this.settleLater();
  }

  async stop(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = null;
    if (this.settling !== null) clearImmediate(this.settling);
    this.settling = null;
    await subscription?.stop();
  }

  /** Drops what one projection wrote and applies every event again from the first. */
  async rebuild(name: string): Promise<void> {
    const projection = this.projections.find((candidate) => candidate.name === name);
    if (projection === undefined) throw new Error(`Unknown projection ${name}`);
    await this.stop();
    this.db.transaction(() => {
      projection.reset(this.db);
      this.db.run('DELETE FROM projection_checkpoints WHERE name = ?', name);
    });
    await this.start();
  }

  /** The position every projection has reached (null when none has applied anything). */
  position(): GlobalPosition | null {
    return this.lowestCheckpoint();
  }

  /**
   * Resolves once every projection has applied the events up to `position`, so a caller can read
   * its own writes. Rejects after `timeoutMs`.
   */
  waitFor(position: GlobalPosition, timeoutMs = 10_000): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const reached = this.lowestCheckpoint();
    if (reached !== null && reached >= position) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { position, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`Read models did not reach position ${position} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  private load(projection: Projection): void {
    const row = this.db.get<{ version: number; position: string | null }>(
      'SELECT version, position FROM projection_checkpoints WHERE name = ?',
      projection.name,
    );
    this.db.transaction(() => {
      if (row !== undefined && row.version !== projection.version) {
        // The projection's logic changed: its rows are rebuilt from the first event.
        projection.reset(this.db);
        this.db.run('DELETE FROM projection_checkpoints WHERE name = ?', projection.name);
      }
    });
    const current = row !== undefined && row.version === projection.version ? row.position : null;
    this.checkpoints.set(projection.name, { position: current === null ? null : BigInt(current) });
  }

  private applyBatch(delivered: readonly StoredEvent[]): void {
    const { until } = this.options;
    const events = until === undefined ? delivered : delivered.filter((event) => event.position <= until);
    const last = events[events.length - 1];
    if (last === undefined) return;
    try {
      this.db.transaction(() => {
        for (const projection of this.projections) {
          const checkpoint = this.checkpointOf(projection);
          for (const event of events) {
            if (checkpoint.position !== null && event.position <= checkpoint.position) continue;
            const typed = projection.events.read(event);
            if (typed === null) continue;
            // Upcasting made new data only for events written with an older schema: the rest go as they are.
            projection.apply((typed.data === event.data ? event : { ...event, data: typed.data }) as Recorded<DomainEvent>, this.db);
          }
          projection.flush?.(this.db);
          this.saveCheckpoint(projection, last.position);
        }
      });
    } catch (error) {
      for (const projection of this.projections) projection.discard?.();
      this.reloadCheckpoints();
      throw error;
    }
    this.commitCheckpoints(last.position);
    this.options.onApplied?.(events, last.position);
    this.settleLater();
  }

  /**
   * One slice of the projections' deferred work per turn of the event loop, so the requests and
   * events that come meanwhile are served between slices. A failed slice stops the runner as a
   * failed transaction does (onError); its next start tries again.
   */
  private settleLater(): void {
    if (this.settling !== null || this.subscription === null || !this.projections.some((projection) => projection.settle)) return;
    this.settling = setImmediate(() => {
      this.settling = null;
      if (this.subscription === null) return;
      let more = false;
      try {
        for (const projection of this.projections) more = (projection.settle?.(this.db) ?? false) || more;
      } catch (error) {
        void this.subscription.stop();
        this.fail(error);
        return;
      }
      if (more) this.settleLater();
    });
  }

  /** The runner stopped on `error` (its subscription's, or a slice's): reported, until the next start. */
  private fail(error: unknown): void {
    this.failure = error;
    this.subscription = null;
    this.options.onError?.(error);
  }

  private advanceTo(scanned: GlobalPosition): void {
    const { until } = this.options;
    const position = until !== undefined && scanned > until ? until : scanned;
    this.db.transaction(() => {
      for (const projection of this.projections) this.saveCheckpoint(projection, position);
    });
    this.commitCheckpoints(position);
  }

  private saveCheckpoint(projection: Projection, position: GlobalPosition): void {
    const checkpoint = this.checkpointOf(projection);
    if (checkpoint.position !== null && checkpoint.position >= position) return;
    this.db.run(
      'INSERT INTO projection_checkpoints (name, version, position) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET ' +
        'version = excluded.version, position = excluded.position',
      projection.name,
      projection.version,
      position.toString(),
    );
  }

  /** After a successful commit, the in-memory checkpoints follow the stored ones and waiters are released. */
  private commitCheckpoints(position: GlobalPosition): void {
    for (const checkpoint of this.checkpoints.values()) {
      if (checkpoint.position === null || checkpoint.position < position) checkpoint.position = position;
    }
    const reached = this.lowestCheckpoint();
    if (reached === null) return;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i];
      if (waiter !== undefined && waiter.position <= reached) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private reloadCheckpoints(): void {
    for (const projection of this.projections) {
      const row = this.db.get<{ position: string | null }>('SELECT position FROM projection_checkpoints WHERE name = ?', projection.name);
      this.checkpoints.set(projection.name, { position: row?.position ? BigInt(row.position) : null });
    }
  }

  private checkpointOf(projection: Projection): Checkpoint {
    let checkpoint = this.checkpoints.get(projection.name);
    if (checkpoint === undefined) this.checkpoints.set(projection.name, (checkpoint = { position: null }));
    return checkpoint;
  }

  private lowestCheckpoint(): GlobalPosition | null {
    let lowest: GlobalPosition | null = null;
    for (const projection of this.projections) {
      const position = this.checkpointOf(projection).position;
      if (position === null) return null;
      if (lowest === null || position < lowest) lowest = position;
    }
    return lowest;
  }
}
