import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, UseFilters, applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiResponse, ApiTags } from '@nestjs/swagger';
import { BatchCommandHandler, WorkflowRepository } from '@flotilla/application';
import { DomainError, RuleViolation, parseExecutionId, type Problem, type Workflow } from '@flotilla/domain';
import {
  AcceptsBodylessWithAuthorization,
  CLOCK,
  CONFIG,
  type Clock,
  type PlatformConfig,
  TeamOwned,
  BatchControl,
  SecretBox,
} from '@flotilla/platform';
import {
  WorkflowRunQueries,
  WorkflowRunView,
  executionStateOf,
  versionOf,
  workflowRunOf,
  workflowSummaryOf,
  type RunRow,
} from '@flotilla/projections';
import { StateDb } from '@flotilla/state';
import type { Request } from 'express';
import { BatchIntakeService } from '../batch-intake.service';
import type { BatchConfigDto } from '../dto';
import type { JsonItem } from '../json-items';
import { actorOf } from '../http-context';
import { OwnTeamOnly, WorkflowRunNotFound } from '../team-scope';
import { callerOf, visibleTeamOf } from '@flotilla/platform';
import { WorkflowTeams } from '../workflow-teams';
import { ReadModelsService } from '../read-models.service';
import { resolveWorkflowVersion } from '../workflow-versions';
import { ExtendErrorBody, ExtendErrorFilter, ExtendRateLimited } from './extend-errors';
import { CreateWorkflowRunBatchDto, ListWorkflowRunsQueryDto, type ExtendInputDto } from './extend.dto';
import { InputRateLimit } from './input-rate';

/** Extend's default priority for batch runs: they go after interactive work. */
export const EXTEND_BATCH_PRIORITY = 90;
const DEFAULT_PAGE_SIZE = 50;

export class WorkflowRunBatchResponse {
  @ApiProperty({ enum: [true] })
  readonly success!: true;
  @ApiProperty({ example: 'bat_01jx5c3n8e7w6h2q9r4t5v6w7x', description: 'The Flotilla batch behind the runs: /v1/batches/{batchId}.' })
  readonly batchId!: string;
}

export class WorkflowRunListResponse {
  @ApiProperty({ enum: ['list'] })
  readonly object!: 'list';
  @ApiProperty({ type: [WorkflowRunView] })
  readonly data!: WorkflowRunView[];
  @ApiPropertyOptional({ description: 'Absent on the last page; pass it back as `nextPageToken` for the next.' })
  readonly nextPageToken?: string;
}

class WorkflowRunNotPending extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'workflow_run_not_cancellable';
  constructor(id: string, status: string) {
    super(`Workflow run ${id} is ${status}: only a PENDING run can be cancelled`);
    this.name = 'WorkflowRunNotPending';
  }
}

const ExtendErrors = (errors: Partial<Record<400 | 404 | 409 | 415 | 422 | 429, string>>): MethodDecorator =>
  applyDecorators(
    ...Object.entries(errors).map(([status, description]) => ApiResponse({ status: Number(status), description, type: ExtendErrorBody })),
  );

const ExtendHeaders = (): MethodDecorator =>
  applyDecorators(
    ApiHeader({ name: 'x-extend-api-version', required: false, description: "Extend's API version (e.g. 2026-02-09); any is accepted." }),
  );

/** `items[3].inputs.file` → `inputs[3].file`: the item rules' problems named as the Extend request wrote them. */
const extendField = (text: string): string =>
  text.replace(/items\[(\d+)\]\.inputs\.(\w+)/g, 'inputs[$1].$2').replace(/items\[(\d+)\]/g, 'inputs[$1]');

const renamed = (error: RuleViolation): RuleViolation =>
  new RuleViolation(
    extendField(error.message),
    error.problems.map((problem) => ({
      ...problem,
      message: extendField(problem.message),
      ...(problem.field === undefined ? {} : { field: extendField(problem.field) }),
    })),
  );

/** Largest `secrets` object of one input, as JSON: the bound of an item's metadata. */
const MAX_SECRETS_BYTES = 16 * 1024;

/**
 * Secrets are an object of at most 16 KiB as JSON (they are sealed before anything is recorded); a
 * file's `settings` (its password) is still refused, since nothing would deliver it sealed.
 */
const secretProblems = (inputs: readonly ExtendInputDto[]): Problem[] =>
  inputs.flatMap((input, i) => [
    ...(input.secrets === undefined
      ? []
      : typeof input.secrets !== 'object' || input.secrets === null || Array.isArray(input.secrets)
        ? [{ code: 'invalid_field', field: `inputs[${i}].secrets`, message: `inputs[${i}].secrets must be an object` }]
        : Buffer.byteLength(JSON.stringify(input.secrets)) > MAX_SECRETS_BYTES
          ? [
              {
                code: 'too_large',
                field: `inputs[${i}].secrets`,
                message: `inputs[${i}].secrets is over ${MAX_SECRETS_BYTES} bytes as JSON`,
              },
            ]
          : []),
    ...(input.file['settings'] === undefined
      ? []
      : [
          {
            code: 'secrets_not_supported',
            field: `inputs[${i}].file.settings`,
            message: `inputs[${i}].file.settings: a file password is a secret, and file settings are not accepted yet; use secrets`,
          },
        ]),
  ]);

/**
 * The Extend-compatible API: `POST /workflow_runs/batch` and the workflow runs, as the `extend-ai`
 * SDK calls them. Behind each request is an ordinary Flotilla batch, created through the same
 * intake as `POST /v1/batches`: its inputs are the items `{ inputs: { file }, metadata }`.
 */
@ApiTags('workflow runs (Extend-compatible)')
@Controller('workflow_runs')
@UseFilters(ExtendErrorFilter)
export class WorkflowRunsController {
  private readonly runs: WorkflowRunQueries;
  private readonly rate: InputRateLimit;

  constructor(
    private readonly intake: BatchIntakeService,
    private readonly batches: BatchCommandHandler,
    private readonly workflows: WorkflowRepository,
    private readonly readModels: ReadModelsService,
    db: StateDb,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: PlatformConfig,
    private readonly box: SecretBox,
    private readonly workflowTeams: WorkflowTeams,
  ) {
    this.runs = new WorkflowRunQueries(db);
    this.rate = new InputRateLimit(config.extendInputsPerMinute);
  }

  @Post('batch')
  @TeamOwned()
  @HttpCode(200)
  @ExtendHeaders()
  @ApiOperation({
    operationId: 'createWorkflowRunBatch',
    summary: 'Run a workflow over 1 to 1,000 inputs (Extend Batch Run Workflow); answers the batch id',
    description:
      'Each input becomes one run: the target receives `inputs.file` and `metadata` as given. The workflow must declare an ' +
      'input named `file`. Pacing comes from the workflow version `defaults` (else every input at once); priority defaults ' +
      'to 90. `Authorization: Bearer <token>` is accepted with any token until API keys exist.',
  })
  @ApiOkResponse({ type: WorkflowRunBatchResponse })
  @ExtendErrors({
    400: 'The body is not of the expected shape: no inputs or more than 1,000, an input with no file or a malformed one.',
    404: 'No workflow has this id, or it has no such version.',
    415: 'The Content-Type is not application/json.',
    422:
      'An input breaks the workflow version rules (an input it does not declare, metadata too large), ' +
      'secrets, or priority out of range.',
    429: 'Too many inputs submitted in the last minute (EXTEND_RATE_LIMIT); Retry-After says when to try again.',
  })
  async createBatch(@Body() body: CreateWorkflowRunBatchDto, @Req() request: Request): Promise<WorkflowRunBatchResponse> {
    const retryAfter = this.rate.take(body.inputs.length, this.clock.now().getTime());
    if (retryAfter !== null) throw new ExtendRateLimited(retryAfter);
    const secrets = secretProblems(body.inputs);
    if (secrets.length > 0) throw new RuleViolation(secrets[0]?.message ?? 'secrets are not accepted', secrets);
    const version = body.workflow.version;
    const workflow = await resolveWorkflowVersion(
      this.workflows,
      this.workflowTeams.resolve(body.workflow.id, callerOf(request)),
      version === undefined || version === 'latest' || version === 'draft' ? undefined : Number(version),
    );
    const config: BatchConfigDto = {
      name: `workflow_runs/batch: ${body.inputs.length} inputs of ${workflow.workflowId}`,
      workflowId: workflow.workflowId,
      workflowVersion: workflow.version,
      maxConcurrent: workflow.defaults?.maxConcurrent ?? body.inputs.length,
      batchIntervalSeconds: workflow.defaults?.batchIntervalSeconds ?? 0,
      priority: body.priority ?? EXTEND_BATCH_PRIORITY,
    };
    const items: JsonItem[] = body.inputs.map((input) => ({
      inputs: { file: input.file },
      ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
      // Sealed here, before any event is written: the store only ever holds the ciphertext.
      ...(input.secrets === undefined ? {} : { secrets: this.box.seal(JSON.stringify(input.secrets)) }),
    }));
    try {
      const created = await this.intake.createFromJson(config, items, actorOf(request), callerOf(request));
      await this.readModels.settle(created.position);
      return { success: true, batchId: created.batchId };
    } catch (error) {
      throw error instanceof RuleViolation ? renamed(error) : error;
    }
  }

  @Get()
  @ExtendHeaders()
  @ApiOperation({
    operationId: 'listWorkflowRuns',
    summary: 'Workflow runs, newest batch first and in input order within a batch (Extend List Workflow Runs)',
  })
  @ApiOkResponse({ type: WorkflowRunListResponse })
  @ExtendErrors({
    400: 'A query parameter is not of the expected shape: maxPageSize out of 1..1000, an unknown status, a bogus nextPageToken.',
  })
  async list(@Query() query: ListWorkflowRunsQueryDto, @Req() request: Request): Promise<WorkflowRunListResponse> {
    const team = visibleTeamOf(request);
    const workflowId = this.workflowTeams.listFilter(query.workflowId, callerOf(request));
    const page = this.runs.list({
      ...(team === undefined ? {} : { team }),
      ...(query.batchId === undefined ? {} : { batchId: query.batchId }),
      ...(workflowId === undefined ? {} : { workflowId }),
      ...(query.status === undefined ? {} : { state: executionStateOf(query.status) }),
      ...(query.nextPageToken === undefined ? {} : { pageToken: query.nextPageToken }),
      limit: query.maxPageSize ?? DEFAULT_PAGE_SIZE,
    });
    const workflows = new Map<string, Workflow | null>();
    const data: WorkflowRunView[] = [];
    for (const row of page.rows) {
      if (!workflows.has(row.workflow_id)) workflows.set(row.workflow_id, await this.workflows.load(row.workflow_id));
      data.push(this.viewOf(row, workflows.get(row.workflow_id) ?? null));
    }
    return { object: 'list', data, ...(page.nextPageToken === null ? {} : { nextPageToken: page.nextPageToken }) };
  }

  @Get(':id')
  @OwnTeamOnly('run')
  @ExtendHeaders()
  @ApiOperation({ operationId: 'getWorkflowRun', summary: 'One workflow run: an execution, by its id `<batchId>.<index>`' })
  @ApiOkResponse({ type: WorkflowRunView })
  @ExtendErrors({ 404: 'No workflow run has this id.' })
  async retrieve(@Param('id') id: string): Promise<WorkflowRunView> {
    return this.view(id);
  }

  @Post(':id/cancel')
  @OwnTeamOnly('run')
  @BatchControl()
  @HttpCode(200)
  @AcceptsBodylessWithAuthorization()
  @ExtendHeaders()
  @ApiOperation({
    operationId: 'cancelWorkflowRun',
    summary: 'Cancel a PENDING workflow run (409 once it has been triggered)',
    description: 'The SDK sends no body: a bodyless POST is accepted with an Authorization header, else send `{}` as application/json.',
  })
  @ApiOkResponse({ type: WorkflowRunView, description: 'The run, CANCELLED.' })
  @ExtendErrors({
    404: 'No workflow run has this id.',
    409: 'The run is not PENDING; the message names its status.',
    415: 'A body that is not application/json, or no body without an Authorization header.',
  })
  async cancel(@Param('id') id: string, @Req() request: Request): Promise<WorkflowRunView> {
    const run = await this.view(id);
    if (run.status !== 'PENDING') throw new WorkflowRunNotPending(id, run.status);
    const parsed = parseExecutionId(id);
    if (parsed === null) throw new WorkflowRunNotFound(id);
    const actor = actorOf(request);
    const result = await this.batches.handle(
      parsed.batchId,
      {
        type: 'CancelExecution',
        batchId: parsed.batchId,
        index: parsed.index,
        now: this.clock.now(),
        actor,
        reason: 'workflow run cancelled',
      },
      { actor },
    );
    await this.readModels.settle(result.position);
    return this.view(id);
  }

  private async view(id: string): Promise<WorkflowRunView> {
    const parsed = parseExecutionId(id);
    const row = parsed === null ? null : this.runs.get(parsed.batchId, parsed.index);
    if (row === null) throw new WorkflowRunNotFound(id);
    return this.viewOf(row, await this.workflows.load(row.workflow_id));
  }

  private viewOf(row: RunRow, workflow: Workflow | null): WorkflowRunView {
    const fallback = { id: row.workflow_id, name: row.workflow_id, createdAt: row.created_at, updatedAt: row.created_at };
    return workflowRunOf({
      batchId: row.batch_id,
      index: row.idx,
      state: row.state,
      workflow: workflow === null ? fallback : workflowSummaryOf(workflow),
      version:
        workflow === null
          ? { version: row.workflow_version, name: row.workflow_id, createdAt: row.created_at }
          : versionOf(workflow, row.workflow_version),
      inputs: JSON.parse(row.inputs) as Record<string, unknown>,
      metadata: {
        ...(JSON.parse(row.batch_metadata) as Record<string, unknown>),
        ...(row.metadata === null ? {} : (JSON.parse(row.metadata) as Record<string, unknown>)),
      },
      batchCreatedAt: row.created_at,
      triggeredAt: row.triggered_at,
      endedAt: row.finished_at ?? row.cancelled_at,
      output: row.output === null ? null : (JSON.parse(row.output) as unknown),
      error: row.error,
      statusCode: row.status_code,
      attempts: row.attempts,
      publicUrl: this.config.publicUrl,
    });
  }
}
