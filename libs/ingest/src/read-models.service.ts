import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { EventStore, GlobalPosition, StoredEvent } from '@flotilla/event-store';
import { EVENT_STORE, Metrics } from '@flotilla/platform';
import { BatchQueries, BatchResults, ProjectionRunner, WavesReader, batchProjections } from '@flotilla/projections';
import { StateDb } from '@flotilla/state';

/**
 * The read side of the API: keeps the projections up to date in this process's state database and
 * answers queries from them. After a command, `settle` waits until the projections include its
 * events, so a client reads its own writes.
 */
@Injectable()
export class ReadModelsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly queries: BatchQueries;
  readonly results: BatchResults;
  readonly waves: WavesReader;
  private readonly runner: ProjectionRunner;
  private readonly logger = new Logger('ReadModels');
  private readonly changeListeners = new Set<(batchIds: ReadonlySet<string>) => void>();

  constructor(@Inject(EVENT_STORE) store: EventStore, db: StateDb, metrics: Metrics) {
    this.runner = new ProjectionRunner(store, db, batchProjections(), {
      onApplied: (events) => this.announceChanges(events),
      onError: (error) => {
        this.logger.error(`Projections stopped: ${String(error)}; restarting in 1 s`);
        setTimeout(() => void this.runner.start().catch((again: unknown) => this.logger.error(String(again))), 1000);
      },
    });
    this.queries = new BatchQueries(db);
    this.results = new BatchResults(db);
    this.waves = new WavesReader(this.queries, db.path, (error) =>
      this.logger.warn(`The waves worker failed (${error.message}); waves are read on the main thread`),
    );
    metrics.observe('flotilla_batches', 'Batches by status, from the read model', () => this.queries.countByStatus(), 'status');
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.runner.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.runner.stop();
    await this.waves.close();
  }

  /**
   * Calls `listener` with the ids of the batches each committed transaction of the projections
   * changed (every batch event names its batch in `batchId`), once the read models show the change.
   * Returns the function that stops the calls.
   */
  onBatchesChanged(listener: (batchIds: ReadonlySet<string>) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private announceChanges(events: readonly StoredEvent[]): void {
    if (this.changeListeners.size === 0) return;
    const batchIds = new Set<string>();
    for (const event of events) {
      const batchId = (event.data as { batchId?: unknown } | null)?.batchId;
      if (typeof batchId === 'string') batchIds.add(batchId);
    }
    if (batchIds.size === 0) return;
    for (const listener of this.changeListeners) listener(batchIds);
  }

  async settle(position: GlobalPosition | null): Promise<void> {
    if (position !== null) await this.runner.waitFor(position);
  }
}
