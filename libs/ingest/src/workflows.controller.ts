import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkflowRepository } from '@flotilla/application';
import {
  DEFAULT_CALLBACK_TIMEOUT_MS,
  DEFAULT_RETRY,
  DEFAULT_TIMEOUT_MS,
  WorkflowAlreadyExists,
  WorkflowNotFound,
  qualifiedWorkflowId,
  latestVersion,
  pageByOffset,
  savedMappingFor,
  type Workflow,
  type WorkflowDefaults,
  type WorkflowDefinition,
  type WorkflowLimits,
  type WorkflowVersion,
} from '@flotilla/domain';
import { Inject, Optional } from '@nestjs/common';
import {
  ApiErrors,
  CLOCK,
  JSON_BODY_ERRORS,
  type Clock,
  TeamOwned,
  BatchControl,
  TeamLimitsRegistry,
  teamLimitExceeded,
  teamOf,
  callerOf,
  visibleTeamOf,
  OutboundRules,
  PAGE_QUERY_ERROR,
} from '@flotilla/platform';
import type { Request } from 'express';
import {
  CreateWorkflowDto,
  PageQueryDto,
  SaveMappingDto,
  WorkflowDefaultsDto,
  WorkflowHoldDto,
  WorkflowLimitsDto,
  WorkflowVersionDto,
} from './dto';
import { actorOf } from './http-context';
import { WorkflowTeams } from './workflow-teams';
import {
  SavedMappingResponse,
  SavedMappingsResponse,
  WorkflowHistoryResponse,
  WorkflowPage,
  WorkflowResponse,
  WorkflowVersionResponse,
} from './responses';

const definitionOf = (dto: WorkflowVersionDto): WorkflowDefinition => ({
  name: dto.name,
  inputs: dto.inputs.map((input) => ({ name: input.name, required: input.required ?? true })),
  target: {
    url: dto.target.url,
    timeoutMs: dto.target.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    mode: dto.target.mode ?? 'sync',
    callbackTimeoutMs: dto.target.callbackTimeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS,
  },
  retry: {
    maxAttempts: dto.retry?.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
    backoffMs: dto.retry?.backoffMs ?? DEFAULT_RETRY.backoffMs,
    maxThrottleSeconds: dto.retry?.maxThrottleSeconds ?? DEFAULT_RETRY.maxThrottleSeconds,
  },
  // Only what was declared: the executor's default applies to the rest.
  ...(dto.limits === undefined ? {} : limitsOf(dto.limits)),
  ...(dto.cost === undefined ? {} : { cost: { perExecution: dto.cost.perExecution, currency: dto.cost.currency } }),
  ...(dto.defaults === undefined ? {} : { defaults: defaultsOf(dto.defaults) }),
});

const limitsOf = ({ maxInFlight, maxPerSecond }: WorkflowLimitsDto): { limits?: WorkflowLimits } =>
  maxInFlight === undefined && maxPerSecond === undefined
    ? {}
    : {
        limits: {
          ...(maxInFlight === undefined ? {} : { maxInFlight }),
          ...(maxPerSecond === undefined ? {} : { maxPerSecond }),
        },
      };

/** Only the fields given: an absent one keeps its meaning (every input at once, no interval). */
const defaultsOf = (dto: WorkflowDefaultsDto): WorkflowDefaults => ({
  ...(dto.maxConcurrent === undefined ? {} : { maxConcurrent: dto.maxConcurrent }),
  ...(dto.batchIntervalSeconds === undefined ? {} : { batchIntervalSeconds: dto.batchIntervalSeconds }),
});

const versionView = (version: WorkflowVersion): WorkflowVersionResponse => ({
  id: version.workflowId,
  version: version.version,
  name: version.name,
  inputs: version.inputs,
  target: version.target,
  retry: version.retry,
  limits: version.limits ?? {},
  cost: version.cost ?? null,
  defaults: version.defaults ?? {},
  createdAt: version.createdAt,
});

const workflowView = (workflow: Workflow): WorkflowResponse => ({
  ...versionView(latestVersion(workflow)),
  versions: workflow.versions.map((version) => ({ version: version.version, name: version.name, createdAt: version.createdAt })),
  held: workflow.held,
});

const mappingsView = (workflow: Workflow): SavedMappingsResponse => ({
  items: workflow.mappings.map(({ columns, mapping, savedAt, savedBy }) => ({ headers: columns, mapping, savedAt, savedBy })),
});

const HOLD_ERRORS = {
  ...JSON_BODY_ERRORS,
  404: 'No workflow has this id.',
  422: '`reason` is missing, blank or longer than 500 characters; `details` names it.',
} as const;

const WORKFLOW_RULES =
  'A rule is broken (a timeout out of range, a target URL that is not http(s) or whose address is denied by OUTBOUND_DENY, ' +
  'inputs named twice, defaults out of range); ' +
  '`details` names the field.';

@ApiTags('workflows')
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(
    private readonly workflows: WorkflowRepository,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly workflowTeams: WorkflowTeams,
    private readonly outbound: OutboundRules,
    // Absent where no AuthModule runs (module tests): then no team has limits.
    @Optional() @Inject(TeamLimitsRegistry) private readonly teamLimits: TeamLimitsRegistry | null = null,
  ) {}

  @Post()
  @TeamOwned()
  @ApiOperation({ operationId: 'registerWorkflow', summary: 'Register a workflow (version 1)' })
  @ApiCreatedResponse({ type: WorkflowVersionResponse, description: 'Version 1 of the workflow, every default filled in.' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    409: "The key's team has a workflow with this id already: add a version instead.",
    422: WORKFLOW_RULES,
  })
  async register(@Body() dto: CreateWorkflowDto, @Req() request: Request): Promise<WorkflowVersionResponse> {
    await this.outbound.assertAllowed(dto.target.url, 'target.url');
    const team = teamOf(request);
    const { maxWorkflows } = this.teamLimits?.of(team) ?? {};
    if (maxWorkflows !== undefined && this.workflowTeams.countOf(team) >= maxWorkflows)
      throw teamLimitExceeded(team, 'maxWorkflows', maxWorkflows, `The team has ${this.workflowTeams.countOf(team)} workflows`);
    // Ids are per team: the id is stored as `<team>:<id>` (the default team's as it is), so another
    // team's workflow of the same id is no conflict, and no answer tells that it exists. A team's
    // own workflow of this id from before ids were per team (stored bare) is one.
    const workflowId = qualifiedWorkflowId(team, dto.id);
    if (workflowId !== dto.id && this.workflowTeams.teamOf(dto.id) === team) throw new WorkflowAlreadyExists(dto.id);
    const { workflow } = await this.workflows.add(
      {
        type: 'AddWorkflowVersion',
        workflowId,
        isNew: true,
        definition: definitionOf(dto),
        actor: actorOf(request),
        now: this.clock.now(),
      },
      team,
    );
    this.workflowTeams.record(workflowId, team);
    return versionView(latestVersion(workflow));
  }

  @Get()
  @ApiOperation({ operationId: 'listWorkflows', summary: "The workflows the key's team may see, by id, each with its latest version" })
  @ApiOkResponse({ type: WorkflowPage })
  @ApiErrors({ 400: PAGE_QUERY_ERROR })
  async list(@Query() query: PageQueryDto, @Req() request: Request): Promise<WorkflowPage> {
    const page = pageByOffset(this.workflowTeams.idsVisibleTo(visibleTeamOf(request)), {
      limit: query.limit ?? 50,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    });
    const workflows = await Promise.all(page.items.map((id) => this.workflows.load(id)));
    return {
      items: workflows.filter((workflow): workflow is Workflow => workflow !== null).map(workflowView),
      nextCursor: page.nextCursor,
    };
  }

  @Get(':id/mappings')
  @ApiOperation({
    operationId: 'listWorkflowMappings',
    summary: 'The column mappings saved for this workflow, one per set of CSV headers',
    description: "A console (or a script) restores the one whose `headers` are the set of its CSV's headers, in any order.",
  })
  @ApiOkResponse({ type: SavedMappingsResponse })
  @ApiErrors({ 404: 'No workflow has this id.' })
  async mappings(@Param('id') ref: string, @Req() request: Request): Promise<SavedMappingsResponse> {
    const id = this.workflowIdOf(ref, request);
    const workflow = await this.workflows.load(id);
    if (workflow === null) throw new WorkflowNotFound(id);
    return mappingsView(workflow);
  }

  @Put(':id/mappings')
  @TeamOwned()
  @ApiOperation({
    operationId: 'saveWorkflowMapping',
    summary: 'Save the column mapping for CSVs with these headers (in any order); it replaces the one saved for the same set',
    description:
      "Records ColumnMappingSaved on the workflow's stream, with the actor; the same mapping again records nothing. " +
      'Whether the mapping fits a version of the workflow is checked when a batch uses it (preview, plan, create).',
  })
  @ApiOkResponse({ type: SavedMappingResponse, description: 'The mapping as saved.' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    404: 'No workflow has this id.',
    422:
      '`headers` is missing, empty or over 1,000 columns, or `mapping` is not of the mapping shape ' +
      'or names a header not in `headers`; `details` names the field.',
  })
  async saveMapping(@Param('id') ref: string, @Body() dto: SaveMappingDto, @Req() request: Request): Promise<SavedMappingResponse> {
    const id = this.workflowIdOf(ref, request);
    const { workflow } = await this.workflows.saveMapping({
      type: 'SaveColumnMapping',
      workflowId: id,
      headers: dto.headers,
      mapping: dto.mapping,
      actor: actorOf(request),
      now: this.clock.now(),
    });
    const saved = savedMappingFor(workflow, dto.headers);
    if (saved === undefined) throw new Error(`The mapping of workflow ${id} was not saved`);
    return { headers: saved.columns, mapping: saved.mapping, savedAt: saved.savedAt, savedBy: saved.savedBy };
  }

  @Post(':id/versions')
  @TeamOwned()
  @HttpCode(201)
  @ApiOperation({ operationId: 'addWorkflowVersion', summary: 'Add the next version of a workflow' })
  @ApiCreatedResponse({ type: WorkflowVersionResponse, description: 'The new version, every default filled in.' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    404: 'No workflow has this id.',
    422: WORKFLOW_RULES,
  })
  async addVersion(@Param('id') ref: string, @Body() dto: WorkflowVersionDto, @Req() request: Request): Promise<WorkflowVersionResponse> {
    const id = this.workflowIdOf(ref, request);
    await this.outbound.assertAllowed(dto.target.url, 'target.url');
    const { workflow } = await this.workflows.add({
      type: 'AddWorkflowVersion',
      workflowId: id,
      isNew: false,
      definition: definitionOf(dto),
      actor: actorOf(request),
      now: this.clock.now(),
    });
    return versionView(latestVersion(workflow));
  }

  @Post(':id/hold')
  @BatchControl()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'holdWorkflow',
    summary: "Hold a workflow (a target's maintenance window): none of its executions is called, whatever batch it belongs to",
    description:
      'Records WorkflowHeld. Every batch of the workflow whose executions may still be called follows with BatchHeld ' +
      '(`heldBy: "workflow"`, the `batch.held` webhook) moments later, and a batch created while the workflow is held starts ' +
      'held. A held batch declares and triggers no wave, and the executor calls none of its already-triggered executions; ' +
      'calls in flight finish. The batches keep their status: pause, resume, PATCH and cancel work on them as usual.',
  })
  @ApiOkResponse({ type: WorkflowResponse, description: 'The workflow, `held` set.' })
  @ApiErrors({ ...HOLD_ERRORS, 409: 'The workflow is already held (`workflow_already_held`).' })
  async hold(@Param('id') ref: string, @Body() dto: WorkflowHoldDto, @Req() request: Request): Promise<WorkflowResponse> {
    const id = this.workflowIdOf(ref, request);
    const { workflow } = await this.workflows.holdOrRelease({
      type: 'HoldWorkflow',
      workflowId: id,
      reason: dto.reason,
      actor: actorOf(request),
      now: this.clock.now(),
    });
    return workflowView(workflow);
  }

  @Post(':id/release')
  @BatchControl()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'releaseWorkflow',
    summary: 'Release a held workflow: its batches go on, the pending executions re-planned from now',
    description:
      'Records WorkflowReleased. Every batch the hold held follows with BatchReleased (the `batch.released` webhook): a ' +
      'running one re-plans its pending executions from now by the wave formula, as a resume does; a pending one keeps its ' +
      'plan from startAt; a paused one stays paused. The executions already triggered are called again as slots allow.',
  })
  @ApiOkResponse({ type: WorkflowResponse, description: 'The workflow, `held` null.' })
  @ApiErrors({ ...HOLD_ERRORS, 409: 'The workflow is not held (`workflow_not_held`).' })
  async release(@Param('id') ref: string, @Body() dto: WorkflowHoldDto, @Req() request: Request): Promise<WorkflowResponse> {
    const id = this.workflowIdOf(ref, request);
    const { workflow } = await this.workflows.holdOrRelease({
      type: 'ReleaseWorkflow',
      workflowId: id,
      reason: dto.reason,
      actor: actorOf(request),
      now: this.clock.now(),
    });
    return workflowView(workflow);
  }

  @Get(':id/history')
  @ApiOperation({
    operationId: 'getWorkflowHistory',
    summary: "The workflow's own history: its versions, holds and releases, oldest first, with who did it and why",
  })
  @ApiOkResponse({ type: WorkflowHistoryResponse })
  @ApiErrors({ 404: 'No workflow has this id.' })
  async history(@Param('id') ref: string, @Req() request: Request): Promise<WorkflowHistoryResponse> {
    const id = this.workflowIdOf(ref, request);
    const history = await this.workflows.history(id);
    if (history.length === 0) throw new WorkflowNotFound(id);
    return {
      items: history.map(({ event }) => ({
        type: event.type,
        occurredAt: event.data.occurredAt,
        actor: event.data.actor,
        reason: event.type === 'WorkflowHeld' || event.type === 'WorkflowReleased' ? event.data.reason : null,
        data: event.data as unknown as Record<string, unknown>,
      })),
    };
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getWorkflow', summary: 'The latest version of a workflow and the list of its versions' })
  @ApiOkResponse({ type: WorkflowResponse })
  @ApiErrors({ 404: 'No workflow has this id.' })
  async get(@Param('id') ref: string, @Req() request: Request): Promise<WorkflowResponse> {
    const id = this.workflowIdOf(ref, request);
    const workflow = await this.workflows.load(id);
    if (workflow === null) throw new WorkflowNotFound(id);
    return workflowView(workflow);
  }

  /** The stored id of the workflow the caller means by the path's id (WorkflowTeams.resolve). */
  private workflowIdOf(ref: string, request: Request): string {
    return this.workflowTeams.resolve(ref, callerOf(request));
  }
}
