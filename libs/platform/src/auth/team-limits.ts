import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { RuleViolation } from '@flotilla/domain';
import { streamName, type EventStore, type Subscription } from '@flotilla/event-store';
import { EVENT_STORE } from '../adapters';

/** What an admin caps for one team; an absent cap is no cap. */
export interface TeamLimits {
  /** Items (JSON items or CSV rows) one batch may have. */
  readonly maxItemsPerBatch?: number;
  /** The highest maxConcurrent a batch may ask for (at creation and by PATCH). */
  readonly maxConcurrent?: number;
  /** Batches not yet finished (pending, running or paused) the team may have at once. */
  readonly maxRunningBatches?: number;
  /** Workflows the team may register. */
  readonly maxWorkflows?: number;
}

export type TeamLimitName = keyof TeamLimits;

export const TEAM_LIMIT_NAMES: readonly TeamLimitName[] = ['maxItemsPerBatch', 'maxConcurrent', 'maxRunningBatches', 'maxWorkflows'];

const TEAM_LIMITS_CATEGORY = 'teamlimits';

/** Every set replaces the team's limits as a whole: the latest event is the truth. */
export interface TeamLimitsSet {
  readonly type: 'TeamLimitsSet';
  readonly data: { readonly team: string; readonly limits: TeamLimits; readonly setAt: string; readonly actor: string };
}

/** The 422 of a team limit, naming the limit and its value. */
export const teamLimitExceeded = (team: string, limit: TeamLimitName, value: number, what: string): RuleViolation => {
  const message = `${what}: the team ${team} has the limit ${limit} = ${value}`;
  return new RuleViolation(message, [{ code: 'team_limit_exceeded', field: limit, message }]);
};

/**
 * The teams' limits, from `teamlimits-<team>` streams in the event store, kept current by a
 * subscription as the key registry is (few and small, so in memory).
 */
@Injectable()
export class TeamLimitsRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly limits = new Map<string, { limits: TeamLimits; setAt: string }>();
  private subscription: Subscription | null = null;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onModuleInit(): Promise<void> {
    this.subscription = this.store.subscribeToAll(
      { after: 'start', filter: { streamPrefixes: [`${TEAM_LIMITS_CATEGORY}-`] } },
      {
        onEvents: (events) => {
          for (const event of events) if (event.type === 'TeamLimitsSet') this.apply(event.data as TeamLimitsSet['data']);
        },
      },
    );
    await this.subscription.caughtUp;
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
  }

  of(team: string): TeamLimits {
    return this.limits.get(team)?.limits ?? {};
  }

  setAtOf(team: string): string | null {
    return this.limits.get(team)?.setAt ?? null;
  }

  async set(team: string, limits: TeamLimits, actor: string, now: Date): Promise<void> {
    const event: TeamLimitsSet = { type: 'TeamLimitsSet', data: { team, limits, setAt: now.toISOString(), actor } };
    await this.store.appendToStream(streamName(TEAM_LIMITS_CATEGORY, team), [{ ...event, metadata: { actor } }]);
    this.apply(event.data);
  }

  private apply(data: TeamLimitsSet['data']): void {
    const known = this.limits.get(data.team);
    if (known !== undefined && known.setAt > data.setAt) return;
    this.limits.set(data.team, { limits: data.limits, setAt: data.setAt });
  }
}
