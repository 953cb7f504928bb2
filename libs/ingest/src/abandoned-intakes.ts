import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { batchStream, discardItems, itemsStream } from '@flotilla/application';
import { type EventStore, WrongExpectedRevisionError } from '@flotilla/event-store';
import { CLOCK, CONFIG, EVENT_STORE, type Clock, type PlatformConfig } from '@flotilla/platform';
import { ReadModelsService } from './read-models.service';

/** The reason a swept intake's items are discarded with (BatchItemsDiscarded.reason). */
export const ABANDONED = 'abandoned';
/** At most this many intakes discarded per sweep: each is one append, and abandoned ones are rare. */
const INTAKES_PER_SWEEP = 100;

/**
 * Discards the items of intakes whose process died mid-intake. A refused intake discards its own
 * chunks (BatchIntakeService); a process killed while it wrote them cannot, and their rows would stay
 * in the read models for good. An intake whose last chunk is older than `abandonedIntakeAfterMs` (a
 * live intake appends its chunks milliseconds apart: an upload is on disk before the first) and
 * whose batch does not exist gets BatchItemsDiscarded `abandoned`, at the revision of its last
 * chunk, so a chunk written meanwhile fails the discard instead; the executions projection then
 * deletes the rows as for a refused intake. A batch created at the same moment keeps its rows: the
 * projection drops a discard that follows BatchCreated.
 *
 * Every API process sweeps, every quarter of that age (at most a minute): two processes discarding
 * the same intake append one discard, the other's append fails on the revision.
 */
@Injectable()
export class AbandonedIntakes implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger(AbandonedIntakes.name);
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly readModels: ReadModelsService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: PlatformConfig,
  ) {}

  onApplicationBootstrap(): void {
    const every = Math.min(60_000, Math.max(1_000, this.config.abandonedIntakeAfterMs / 4));
    this.timer = setInterval(() => void this.sweep(), every).unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.sweeping;
  }

  /** One sweep at a time: a slow one is not overlapped by the next tick. */
  private sweep(): Promise<void> {
    this.sweeping ??= this.discardAbandoned()
      .catch((error: unknown) => {
        this.log.warn(`Sweeping abandoned intakes failed: ${error instanceof Error ? error.message : String(error)}`);
      })
      .finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  private async discardAbandoned(): Promise<void> {
    const now = this.clock.now();
    const batchIds = this.readModels.queries.unfinishedIntakesBefore(now.getTime() - this.config.abandonedIntakeAfterMs, INTAKES_PER_SWEEP);
    for (const batchId of batchIds) {
      // Created, the read model not there yet: it drops the row when it applies BatchCreated.
      if ((await this.store.streamRevision(batchStream(batchId))) !== undefined) continue;
      const revision = await this.store.streamRevision(itemsStream(batchId));
      if (revision === undefined) continue;
      try {
        await discardItems(this.store, batchId, revision, ABANDONED, now);
        this.log.log(
          `Discarded the items of an abandoned intake (batch ${batchId}, no chunk for ${this.config.abandonedIntakeAfterMs / 1000} s)`,
        );
      } catch (error) {
        // Another process discarded it, or a chunk came after all: either way nothing is left to do now.
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
      }
    }
  }
}
