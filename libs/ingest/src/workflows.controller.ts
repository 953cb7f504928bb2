import { Body, Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkflowRepository } from '@flotilla/application';
import {
  DEFAULT_CALLBACK_TIMEOUT_MS,
  DEFAULT_RETRY,
  DEFAULT_TIMEOUT_MS,
  WorkflowNotFound,
  latestVersion,
  type Workflow,
  type WorkflowDefinition,
  type WorkflowVersion,
} from '@flotilla/domain';
import { Inject } from '@nestjs/common';
import { CLOCK, type Clock } from '@flotilla/platform';
import type { Request } from 'express';
import { CreateWorkflowDto, WorkflowVersionDto } from './dto';
import { actorOf } from './http-context';

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
  ...(dto.limits?.maxInFlight === undefined ? {} : { limits: { maxInFlight: dto.limits.maxInFlight } }),
});

const versionView = (version: WorkflowVersion) => ({
  id: version.workflowId,
  version: version.version,
  name: version.name,
  inputs: version.inputs,
  target: version.target,
  retry: version.retry,
  limits: version.limits ?? {},
  createdAt: version.createdAt,
});

const workflowView = (workflow: Workflow) => ({
  ...versionView(latestVersion(workflow)),
  versions: workflow.versions.map((version) => ({ version: version.version, name: version.name, createdAt: version.createdAt })),
});

@ApiTags('workflows')
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(
    private readonly workflows: WorkflowRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Register a workflow (version 1)' })
  async register(@Body() dto: CreateWorkflowDto, @Req() request: Request) {
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
  @ApiOperation({ summary: 'Add the next version of a workflow' })
  async addVersion(@Param('id') id: string, @Body() dto: WorkflowVersionDto, @Req() request: Request) {
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
  @ApiOperation({ summary: 'The latest version of a workflow and the list of its versions' })
  async get(@Param('id') id: string) {
    const workflow = await this.workflows.load(id);
    if (workflow === null) throw new WorkflowNotFound(id);
    return workflowView(workflow);
  }
}
