import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { EventStore, GlobalPosition } from '@flotilla/event-store';
import { EVENT_STORE, Metrics } from '@flotilla/platform';
import { BatchQueries, BatchResults, ProjectionRunner, batchProjections } from '@flotilla/projections';
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
  private readonly runner: ProjectionRunner;
  private readonly logger = new Logger('ReadModels');

  constructor(@Inject(EVENT_STORE) store: EventStore, db: StateDb, metrics: Metrics) {
    this.runner = new ProjectionRunner(store, db, batchProjections(), {
      onError: (error) => {
        this.logger.error(`Projections stopped: ${String(error)}; restarting in 1 s`);
        setTimeout(() => void this.runner.start().catch((again: unknown) => this.logger.error(String(again))), 1000);
      },
    });
    this.queries = new BatchQueries(db);
    this.results = new BatchResults(db);
    metrics.observe('flotilla_batches', 'Batches by status, from the read model', () => this.queries.countByStatus(), 'status');
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.runner.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.runner.stop();
  }

  async settle(position: GlobalPosition | null): Promise<void> {
    if (position !== null) await this.runner.waitFor(position);
  }
}
