import { Body, Controller, Get, Inject, NotFoundException, Param, Put, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsInt, Max, Min } from 'class-validator';
import type { Request } from 'express';
import { ApiErrors, JSON_BODY_ERRORS } from '../api-docs';
import { CLOCK, type Clock } from '../clock';
import { IsOptionalNotNull } from '../http-errors';
import { AdminOnly, actorOf, visibleTeamOf } from './access';
import { TEAM_PATTERN } from './keys';
import { TeamLimitsRegistry, type TeamLimits } from './team-limits';

const LIMIT_MAX = 1_000_000_000;

const limit = (description: string): PropertyDecorator[] => [
  ApiPropertyOptional({ description, minimum: 1, maximum: LIMIT_MAX }),
  IsOptionalNotNull(),
  IsInt(),
  Min(1),
  Max(LIMIT_MAX),
];

const apply =
  (decorators: PropertyDecorator[]): PropertyDecorator =>
  (target, key) => {
    for (const decorator of decorators) decorator(target, key);
  };

/** A team's limits; a field left out is no limit. Each PUT replaces them all. */
export class TeamLimitsBody implements TeamLimits {
  @apply(limit('Items (JSON items or CSV rows) one batch may have.'))
  readonly maxItemsPerBatch?: number;
  @apply(limit('The highest maxConcurrent a batch may ask for, at creation and by PATCH.'))
  readonly maxConcurrent?: number;
  @apply(limit('Batches not yet finished (pending, running or paused) the team may have at once.'))
  readonly maxRunningBatches?: number;
  @apply(limit('Workflows the team may register.'))
  readonly maxWorkflows?: number;
}

export class TeamLimitsResponse extends TeamLimitsBody {
  @ApiProperty({ example: 'alpha' })
  readonly team!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'When they were last set; null when never.' })
  readonly setAt!: string | null;
}

@ApiTags('teams')
@Controller('v1/teams')
export class TeamsController {
  constructor(
    private readonly limits: TeamLimitsRegistry,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Put(':team/limits')
  @AdminOnly()
  @ApiOperation({ operationId: 'setTeamLimits', summary: "Set a team's limits (admin); over one, a request is refused with 422 naming it" })
  @ApiOkResponse({ type: TeamLimitsResponse })
  @ApiErrors({ ...JSON_BODY_ERRORS, 403: 'The caller is not an admin.', 404: 'Not a team name.' })
  async set(@Param('team') team: string, @Body() body: TeamLimitsBody, @Req() request: Request): Promise<TeamLimitsResponse> {
    if (!TEAM_PATTERN.test(team)) throw new NotFoundException(`${team} is not a team name`);
    const limits = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined)) as TeamLimits;
    await this.limits.set(team, limits, actorOf(request), this.clock.now());
    return this.get(team, request);
  }

  @Get(':team/limits')
  @ApiOperation({ operationId: 'getTeamLimits', summary: "A team's limits (a submitter: its own team's only)" })
  @ApiOkResponse({ type: TeamLimitsResponse })
  @ApiErrors({ 404: 'Not a team name, or another team than the submitter key’s.' })
  get(@Param('team') team: string, @Req() request: Request): TeamLimitsResponse {
    const visible = visibleTeamOf(request);
    if (!TEAM_PATTERN.test(team) || (visible !== undefined && visible !== team)) throw new NotFoundException(`${team} is not a team name`);
    return { team, ...this.limits.of(team), setAt: this.limits.setAtOf(team) };
  }
}
