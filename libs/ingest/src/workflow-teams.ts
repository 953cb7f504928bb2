import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { WorkflowNotFound, teamOfMetadata } from '@flotilla/domain';
import type { EventStore, Subscription } from '@flotilla/event-store';
import { EVENT_STORE } from '@flotilla/platform';

/**
 * The team each workflow belongs to: the team on the metadata of its first event (its version 1),
 * `default` for workflows from before teams. Kept in memory from a subscription to the workflow
 * streams (workflows are few, and their streams short), for the 404s of another team's workflow
 * and the maxWorkflows limit.
 */
@Injectable()
export class WorkflowTeams implements OnModuleInit, OnModuleDestroy {
  private readonly teams = new Map<string, string>();
  private subscription: Subscription | null = null;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onModuleInit(): Promise<void> {
    this.subscription = this.store.subscribeToAll(
      { after: 'start', filter: { streamPrefixes: ['workflow-'] } },
      {
        onEvents: (events) => {
          for (const event of events) {
            if (event.type !== 'WorkflowVersionAdded' || event.revision !== 0) continue;
            this.record((event.data as { workflowId: string }).workflowId, teamOfMetadata(event.metadata));
          }
        },
      },
    );
    await this.subscription.caughtUp;
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
  }

  /** Called right after a registration too, so that the answer to it already counts it. */
  record(workflowId: string, team: string): void {
    if (!this.teams.has(workflowId)) this.teams.set(workflowId, team);
  }

  teamOf(workflowId: string): string | undefined {
    return this.teams.get(workflowId);
  }

  /** The ids of the workflows `visibleTeam` may see (every workflow when undefined), sorted. */
  idsVisibleTo(visibleTeam: string | undefined): string[] {
    const ids: string[] = [];
    for (const [id, owner] of this.teams) if (visibleTeam === undefined || owner === visibleTeam) ids.push(id);
    return ids.sort();
  }

  countOf(team: string): number {
    let count = 0;
    for (const owner of this.teams.values()) if (owner === team) count++;
    return count;
  }

  /** Another team's workflow is, to a caller restricted to `visibleTeam`, a workflow that does not exist. */
  assertVisible(workflowId: string, visibleTeam: string | undefined): void {
    const owner = this.teams.get(workflowId);
    if (visibleTeam !== undefined && owner !== undefined && owner !== visibleTeam) throw new WorkflowNotFound(workflowId);
  }
}
