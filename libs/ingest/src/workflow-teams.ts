import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  DomainError,
  WORKFLOW_TEAM_SEPARATOR,
  WorkflowNotFound,
  qualifiedWorkflowId,
  teamOfMetadata,
  unqualifiedWorkflowId,
} from '@flotilla/domain';
import type { EventStore, Subscription } from '@flotilla/event-store';
import { EVENT_STORE, type Caller } from '@flotilla/platform';

/**
 * The team each workflow belongs to: the team on the metadata of its first event (its version 1),
 * `default` for workflows from before teams. Kept in memory from a subscription to the workflow
 * streams (workflows are few, and their streams short), for the 404s of another team's workflow
 * and the maxWorkflows limit, and to tell which workflow a caller means by an id (`resolve`).
 */
@Injectable()
export class WorkflowTeams implements OnModuleInit, OnModuleDestroy {
  private readonly teams = new Map<string, string>();
  /** The stored ids by the id their team registered (`onboard` → `onboard`, `alpha:onboard`, …). */
  private readonly byRegisteredId = new Map<string, string[]>();
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
    if (this.teams.has(workflowId)) return;
    this.teams.set(workflowId, team);
    const registered = unqualifiedWorkflowId(workflowId);
    this.byRegisteredId.set(registered, [...(this.byRegisteredId.get(registered) ?? []), workflowId]);
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

  /**
   * The stored id of the workflow `caller` means by `ref`, undefined for one it may not see (another
   * team's, to a submitter).
   * - A qualified ref (`alpha:onboard`) is taken as it is.
   * - A bare ref is the caller's team's workflow of that id first; else the one stored under the ref
   *   itself (the default team's, or a team's registered before ids were per team); else, to a caller
   *   who sees every team, the one team's workflow of that id when only one team has it.
   * - A ref known to nobody here is the caller's team's id: the repository then answers 404, or
   *   finds a workflow another process registered a moment ago.
   */
  find(ref: string, { team, visibleTeam }: Caller): string | undefined {
    const known = this.knownId(ref, team, visibleTeam === undefined);
    if (known === undefined) return ref.includes(WORKFLOW_TEAM_SEPARATOR) ? ref : qualifiedWorkflowId(team, ref);
    return visibleTeam === undefined || this.teams.get(known) === visibleTeam ? known : undefined;
  }

  /**
   * What a list's `workflowId` filter matches, as `find` reads it; a workflow the caller may not see
   * is left as given, which matches none of the batches its list holds.
   */
  listFilter(ref: string | undefined, caller: Caller): string | undefined {
    return ref === undefined ? undefined : (this.find(ref, caller) ?? ref);
  }

  /** As `find`, with the 404 of an id that does not exist for a workflow the caller may not see. */
  resolve(ref: string, caller: Caller): string {
    const workflowId = this.find(ref, caller);
    if (workflowId === undefined) throw new WorkflowNotFound(ref);
    return workflowId;
  }

  /** The stored id `ref` names among the workflows known here, in the order `find` says. */
  private knownId(ref: string, team: string, everyTeam: boolean): string | undefined {
    if (ref.includes(WORKFLOW_TEAM_SEPARATOR)) return this.teams.has(ref) ? ref : undefined;
    const own = qualifiedWorkflowId(team, ref);
    if (this.teams.has(own)) return own;
    if (this.teams.has(ref)) return ref;
    if (!everyTeam) return undefined;
    const stored = this.byRegisteredId.get(ref) ?? [];
    if (stored.length > 1) throw new AmbiguousWorkflowId(ref, stored);
    return stored[0];
  }
}

/** To a caller who sees every team, a bare id several teams registered (409): the message lists them, to pick one. */
export class AmbiguousWorkflowId extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'workflow_id_ambiguous';
  constructor(
    readonly workflowId: string,
    readonly candidates: readonly string[],
  ) {
    super(`Workflow id ${workflowId} is registered by several teams: name the one meant (${[...candidates].sort().join(', ')})`);
    this.name = 'AmbiguousWorkflowId';
  }
}
