import { DEFAULT_TEAM, teamOfMetadata } from '@flotilla/domain';
import type { EventStore } from '@flotilla/event-store';
import { batchStream } from './batch-command-handler';

/** Batches whose team is remembered: far more than run at once, a few hundred KB at most. */
const TEAMS_KEPT = 10_000;

/**
 * The team of a batch, for a process that has no read model of batches (the notifier in
 * distributed mode): read once from the metadata of the batch stream's first event, BatchCreated,
 * and remembered for the batches most recently asked about. A team never changes.
 */
export class BatchTeams {
  private readonly known = new Map<string, Promise<string>>();

  constructor(private readonly store: EventStore) {}

  teamOf(batchId: string): Promise<string> {
    const known = this.known.get(batchId);
    if (known !== undefined) {
      // Most recently asked about last: the first in the map is the one to forget.
      this.known.delete(batchId);
      this.known.set(batchId, known);
      return known;
    }
    const team = this.read(batchId);
    this.known.set(batchId, team);
    team.catch(() => this.known.delete(batchId));
    if (this.known.size > TEAMS_KEPT) this.known.delete(this.known.keys().next().value as string);
    return team;
  }

  private async read(batchId: string): Promise<string> {
    for await (const created of this.store.readStream(batchStream(batchId), { maxCount: 1 })) return teamOfMetadata(created.metadata);
    return DEFAULT_TEAM;
  }
}
