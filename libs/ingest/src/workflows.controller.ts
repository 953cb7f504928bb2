import { Body, Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkflowRepository } from '@flotilla/application';
import {
  DEFAULT_CALLBACK_TIMEOUT_MS,
  DEFAULT_RETRY,
  DEFAULT_TIMEOUT_MS,
  WorkflowNotFound,
  latestVersion,
  type Workflow,
  type WorkflowDefaults,
  type WorkflowDefinition,
  type WorkflowLimits,
  type WorkflowVersion,
} from '@flotilla/domain';
import { Inject } from '@nestjs/common';
import { ApiErrors, CLOCK, JSON_BODY_ERRORS, type Clock } from '@flotilla/platform';
import type { Request } from 'express';
import { CreateWorkflowDto, WorkflowDefaultsDto, WorkflowLimitsDto, WorkflowVersionDto } from './dto';
import { actorOf } from './http-context';
import { WorkflowResponse, WorkflowVersionResponse } from './responses';

const definitionOf = (dto: WorkflowVersionDto): WorkflowDefinition => ({
  name: dto.name,
  inputs: dto.inputs.map((input) => ({ name: input.name, required: input.required ?? true })),
  target: {
    url: dto.target.url,
    timeoutMs: dto.target.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    mode: dto.target.mode ?? 'sync',
    callbackTimeoutMs: dto.target.callbackTimeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS,
  },
  retry: { maxAttempts: dto.retry?.maxAttempts ?? DEFAULT_RETRY.maxAttempts, backoffMs: dto.retry?.backoffMs ?? DEFAULT_RETRY.backoffMs },
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
});

const WORKFLOW_RULES =
  'A rule is broken (a timeout out of range, a target URL that is not http(s), inputs named twice, defaults out of range); ' +
  '`details` names the field.';

@ApiTags('workflows')
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(
    private readonly workflows: WorkflowRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Post()
  @ApiOperation({ operationId: 'registerWorkflow', summary: 'Register a workflow (version 1)' })
  @ApiCreatedResponse({ type: WorkflowVersionResponse, description: 'Version 1 of the workflow, every default filled in.' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    409: 'A workflow with this id already exists: add a version instead.',
    422: WORKFLOW_RULES,
  })
  async register(@Body() dto: CreateWorkflowDto, @Req() request: Request): Promise<WorkflowVersionResponse> {
    const { workflow } = await this.workflows.add({
      type: 'AddWorkflowVersion',
      workflowId: dto.id,
      isNew: true,
      definition: definitionOf(dto),
      actor: actorOf(request),
      now: this.clock.now(),
    });
    return versionView(latestVersion(workflow));
  }

  @Post(':id/versions')
  @HttpCode(201)
  @ApiOperation({ operationId: 'addWorkflowVersion', summary: 'Add the next version of a workflow' })
  @ApiCreatedResponse({ type: WorkflowVersionResponse, description: 'The new version, every default filled in.' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    404: 'No workflow has this id.',
    422: WORKFLOW_RULES,
  })
  async addVersion(@Param('id') id: string, @Body() dto: WorkflowVersionDto, @Req() request: Request): Promise<WorkflowVersionResponse> {
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

  @Get(':id')
  @ApiOperation({ operationId: 'getWorkflow', summary: 'The latest version of a workflow and the list of its versions' })
  @ApiOkResponse({ type: WorkflowResponse })
  @ApiErrors({ 404: 'No workflow has this id.' })
  async get(@Param('id') id: string): Promise<WorkflowResponse> {
    const workflow = await this.workflows.load(id);
    if (workflow === null) throw new WorkflowNotFound(id);
    return workflowView(workflow);
  }
}
