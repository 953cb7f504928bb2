import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { BatchCommandHandler } from '@flotilla/application';
import { BatchNotFound, RuleViolation, type BatchCommand, type BatchSettingsChange } from '@flotilla/domain';
import {
  AcceptsContentTypes,
  ApiErrors,
  CLOCK,
  JSON_BODY_ERRORS,
  PAGE_QUERY_ERROR,
  type Clock,
  TeamOwned,
  BatchControl,
} from '@flotilla/platform';
import { BatchPage, BatchView, ExecutionPage, HistoryPage, WavesView } from '@flotilla/projections';
import type { Request, Response } from 'express';
import { WorkflowTeams } from './workflow-teams';
import { BatchIntakeService } from './batch-intake.service';
import {
  BatchConfigDto,
  CreateBatchDto,
  ListBatchesQueryDto,
  ListExecutionsQueryDto,
  OperatorActionDto,
  HISTORY_PAGE_DEFAULT,
  HistoryQueryDto,
  PAGE_LIMIT_MAX,
  ReconfigureBatchDto,
  RetryFailedDto,
} from './dto';
import { actorOf } from './http-context';
import { OwnTeamOnly } from './team-scope';
import { callerOf, teamOf, visibleTeamOf, type Caller } from '@flotilla/platform';
import { ReadModelsService } from './read-models.service';
import { BatchCreatedResponse, BatchPlanResponse, ColumnMappingBody, CsvPreviewResponse, RetryCreatedResponse } from './responses';
import { csvRecords, jsonField, receiveUpload, validDto } from './uploads';

/** The errors of a route that takes the body of POST /v1/batches (JSON or a multipart CSV): create and plan. */
const BATCH_BODY_ERRORS = {
  ...JSON_BODY_ERRORS,
  400:
    'The body (or the `config` field) is not of the expected shape, or the multipart form is malformed ' +
    'or interrupted; `details` names each field.',
  404: 'No workflow has this id, or it has no such version.',
  413: 'The JSON body, the CSV file, a form field or the number of form fields is over its limit.',
  415:
    'The Content-Type is neither application/json nor multipart/form-data, or the body is ' +
    'compressed in a way the route does not read.',
} as const;

/** The body of POST /v1/batches, also taken by plan: a JSON CreateBatchDto, or a CSV `file` with its `config`. */
const BATCH_BODY = {
  schema: {
    oneOf: [
      { $ref: getSchemaPath(CreateBatchDto) },
      { type: 'object', properties: { file: { type: 'string', format: 'binary' }, config: { type: 'string' } } },
    ],
  },
};

@ApiTags('batches')
@ApiExtraModels(CreateBatchDto, BatchConfigDto, ColumnMappingBody)
@Controller('v1/batches')
export class BatchesController {
  constructor(
    private readonly intake: BatchIntakeService,
    private readonly batches: BatchCommandHandler,
    private readonly readModels: ReadModelsService,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly workflowTeams: WorkflowTeams,
  ) {}

  @Post()
  @TeamOwned()
  @AcceptsContentTypes('multipart/form-data')
  @ApiOperation({
    operationId: 'createBatch',
    summary: 'Create a batch from a JSON array of items, or from a CSV upload with column mapping',
    description:
      'JSON: the body is CreateBatchDto. CSV: multipart/form-data with `file` (the CSV, header row first) and `config` ' +
      '(a JSON string: BatchConfigDto plus an optional `mapping` of header -> { type: input|profile|metadata|skip, field?, key? }). ' +
      'Any invalid row: 422 with the errors of the first 100 rows and the counts; nothing is created.',
  })
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiBody(BATCH_BODY)
  @ApiCreatedResponse({
    type: BatchCreatedResponse,
    description: 'The batch is created with all its items; it runs (or waits for startAt).',
  })
  @ApiErrors({
    ...BATCH_BODY_ERRORS,
    422:
      'A rule is broken: batch settings out of range, items or rows missing required inputs, a column mapping that ' +
      'does not fit; `details` names the field and row.',
  })
  async create(@Req() request: Request, @Body() body: unknown): Promise<BatchCreatedResponse> {
    const actor = actorOf(request);
    const caller = callerOf(request);
    const created = request.is('multipart/form-data')
      ? await this.createFromCsv(request, actor, caller)
      : await this.createFromJson(body, actor, caller);
    await this.readModels.settle(created.position);
    const batch = this.readModels.queries.getBatch(created.batchId);
    return { id: created.batchId, status: batch?.status ?? 'pending', total: created.total };
  }

  @Post('plan')
  @AcceptsContentTypes('multipart/form-data')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'planBatch',
    summary: 'Plan a batch: the bodies of POST /v1/batches, checked and counted; nothing is created',
    description:
      'Takes exactly the JSON or multipart CSV body of POST /v1/batches. Invalid items are counted and listed (the first 100, ' +
      'as the 422 of POST /v1/batches lists them), not refused. Over the valid items: waves = ceil(validItems / maxConcurrent), ' +
      'planEndsAt = startAt + (waves - 1) * batchIntervalSeconds (the wave formula), estimatedDurationSeconds = ' +
      '(waves - 1) * batchIntervalSeconds, estimatedCost = validItems * cost.perExecution of the workflow version (null without one).',
  })
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiBody(BATCH_BODY)
  @ApiOkResponse({ type: BatchPlanResponse, description: 'The plan; no batch, item or event is recorded.' })
  @ApiErrors({
    ...BATCH_BODY_ERRORS,
    422: 'Batch settings out of range, a column mapping that does not fit, or an empty CSV; `details` names the field.',
  })
  async plan(@Req() request: Request, @Body() body: unknown): Promise<BatchPlanResponse> {
    if (!request.is('multipart/form-data')) {
      const { items, ...config } = await validDto(CreateBatchDto, body);
      return this.intake.planFromJson(config, items, callerOf(request));
    }
    return this.withCsvUpload(request, (config, mapping, rows) => this.intake.planFromCsv(config, mapping, rows, callerOf(request)));
  }

  @Post('preview')
  @AcceptsContentTypes('multipart/form-data')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'previewBatchCsv',
    summary: 'Preview a CSV upload: mapping, first 10 rows mapped and validated, counts over the whole file',
  })
  @ApiOkResponse({ type: CsvPreviewResponse, description: 'Invalid rows are reported here, not refused: nothing is created.' })
  @ApiErrors({
    400:
      'The multipart form is malformed or interrupted, or `mapping` is not JSON or not of the ' +
      'expected shape; `details` names the field.',
    404: 'No workflow has this id, or it has no such version.',
    413: 'The CSV file, a form field or the number of form fields is over its limit.',
    415: 'The Content-Type is not multipart/form-data, or the form is compressed.',
    422: 'workflowId or the file is missing, workflowVersion is not an integer >= 1, or the CSV is empty; `details` names the field.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file', 'workflowId'],
      properties: {
        file: { type: 'string', format: 'binary' },
        workflowId: { type: 'string' },
        workflowVersion: { type: 'integer' },
        mapping: { type: 'string' },
      },
    },
  })
  async preview(@Req() request: Request): Promise<CsvPreviewResponse> {
    const upload = await receiveUpload(request);
    try {
      const workflowId = upload.fields['workflowId'];
      if (!workflowId)
        throw new RuleViolation('workflowId is required', [{ code: 'required', field: 'workflowId', message: 'workflowId is required' }]);
      const version = upload.fields['workflowVersion'] ? Number(upload.fields['workflowVersion']) : undefined;
      if (version !== undefined && (!Number.isInteger(version) || version < 1)) {
        throw new RuleViolation('workflowVersion must be an integer >= 1', [
          { code: 'invalid_field', field: 'workflowVersion', message: 'workflowVersion must be an integer >= 1' },
        ]);
      }
      if (upload.filePath === null) throw missingFile();
      const mapping = jsonField(upload.fields, 'mapping') ?? {};
      return await this.intake.preview(workflowId, version, mapping, csvRecords(upload.filePath), callerOf(request));
    } finally {
      await upload.dispose();
    }
  }

  @Get()
  @ApiOperation({ operationId: 'listBatches', summary: 'List batches, newest first' })
  @ApiOkResponse({ type: BatchPage })
  @ApiErrors({ 400: PAGE_QUERY_ERROR })
  list(@Query() query: ListBatchesQueryDto, @Req() request: Request): BatchPage {
    const team = visibleTeamOf(request);
    const workflowId = this.workflowTeams.listFilter(query.workflowId, callerOf(request));
    return this.readModels.queries.listBatches({
      ...(team === undefined ? {} : { team }),
      limit: query.limit ?? 50,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(workflowId === undefined ? {} : { workflowId }),
    });
  }

  @Get(':id')
  @OwnTeamOnly()
  @ApiOperation({ operationId: 'getBatch', summary: 'A batch with its progress' })
  @ApiOkResponse({ type: BatchView })
  @ApiErrors({ 404: 'No batch has this id.' })
  get(@Param('id') id: string): BatchView {
    return this.batchView(id);
  }

  @Patch(':id')
  @OwnTeamOnly()
  @BatchControl()
  @ApiOperation({
    operationId: 'reconfigureBatch',
    summary: 'Change the settings of a pending, running or paused batch: maxConcurrent, batchIntervalSeconds, priority, failure tolerance',
    description:
      'At least one setting. Settings left out keep their value; `maxFailurePercent` or `maxFailures` null removes that limit. ' +
      'Running: when maxConcurrent or batchIntervalSeconds change, the pending executions are re-planned from now in their ' +
      'original order by the wave formula (executeAt = now + floor(rank / maxConcurrent) * batchIntervalSeconds): the first new ' +
      'wave is due at once. Pending: the plan from startAt is recomputed. Paused: the new figures are stored and the resume ' +
      'plans with them. Priority and the failure thresholds move no execution; a lowered threshold is applied at the next ' +
      'outcome. History records BatchReconfigured with each changed setting (from, to), the actor (the team/name of ' +
      'the key) and the reason; ' +
      'the `batch.reconfigured` webhook follows. A setting given with its current value changes nothing, and nothing is ' +
      'recorded when no setting changes.',
  })
  @ApiOkResponse({ type: BatchView, description: 'The batch with its new settings (and plan).' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    404: 'No batch has this id.',
    409: 'The batch has completed or been cancelled.',
    422:
      'No setting given, a setting out of range (the rules of POST /v1/batches), or a plan that would end after 9999; ' +
      '`details` names the field.',
  })
  reconfigure(@Param('id') id: string, @Body() body: ReconfigureBatchDto, @Req() request: Request): Promise<BatchView> {
    const { reason: _reason, ...given } = body;
    // Keys the body did not hold stay out: undefined means "keep", null means "remove".
    const changes = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as BatchSettingsChange;
    if (typeof changes.maxConcurrent === 'number')
      this.intake.checkMaxConcurrent(this.readModels.queries.teamOfBatch(id) ?? teamOf(request), changes.maxConcurrent);
    return this.operate(id, {
      type: 'ReconfigureBatch',
      batchId: id,
      changes,
      now: this.clock.now(),
      actor: actorOf(request),
      ...reason(body),
    });
  }

  @Post(':id/pause')
  @OwnTeamOnly()
  @BatchControl()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'pauseBatch',
    summary: 'Pause: once this returns, no further execution of the batch is triggered until resume',
  })
  @ApiOkResponse({ type: BatchView, description: 'The batch, paused.' })
  @ApiErrors({ ...JSON_BODY_ERRORS, 404: 'No batch has this id.', 409: 'The batch is not running.' })
  pause(@Param('id') id: string, @Body() body: OperatorActionDto, @Req() request: Request): Promise<BatchView> {
    return this.operate(id, { type: 'PauseBatch', batchId: id, now: this.clock.now(), actor: actorOf(request), ...reason(body) });
  }

  @Post(':id/resume')
  @OwnTeamOnly()
  @BatchControl()
  @HttpCode(200)
  @ApiOperation({ operationId: 'resumeBatch', summary: 'Resume: the pending executions are re-planned from now, in their original order' })
  @ApiOkResponse({ type: BatchView, description: 'The batch, running again (or completed, when nothing was left pending).' })
  @ApiErrors({ ...JSON_BODY_ERRORS, 404: 'No batch has this id.', 409: 'The batch is not paused.' })
  resume(@Param('id') id: string, @Body() body: OperatorActionDto, @Req() request: Request): Promise<BatchView> {
    return this.operate(id, { type: 'ResumeBatch', batchId: id, now: this.clock.now(), actor: actorOf(request), ...reason(body) });
  }

  @Post(':id/cancel')
  @OwnTeamOnly()
  @BatchControl()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'cancelBatch',
    summary: 'Cancel (final): pending executions are cancelled; triggered ones are not affected',
  })
  @ApiOkResponse({ type: BatchView, description: 'The batch, cancelled.' })
  @ApiErrors({ ...JSON_BODY_ERRORS, 404: 'No batch has this id.', 409: 'The batch has already completed or been cancelled.' })
  cancel(@Param('id') id: string, @Body() body: OperatorActionDto, @Req() request: Request): Promise<BatchView> {
    return this.operate(id, { type: 'CancelBatch', batchId: id, now: this.clock.now(), actor: actorOf(request), ...reason(body) });
  }

  @Post(':id/retry-failed')
  @OwnTeamOnly()
  @BatchControl()
  @ApiOperation({
    operationId: 'retryFailedExecutions',
    summary: 'Re-run the failed executions: a new batch over them, in their original order, with their inputs, profile and metadata',
    description:
      "Settings come from the parent unless the body overrides them; `workflowVersion` re-runs on another version of the parent's " +
      'workflow. A running parent gives the failures so far. Both batches record the link in their history; the parent lists ' +
      'the new batch in `retries`, the new batch names it as `parentBatchId`.',
  })
  @ApiCreatedResponse({ type: RetryCreatedResponse, description: 'The new batch; it runs (or waits for startAt).' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    404: 'No batch has this id, or the workflow version does not exist.',
    422: 'The batch has no failed execution, a setting is out of range, or a failed item does not fit the chosen workflow version.',
  })
  async retryFailed(@Param('id') id: string, @Body() body: RetryFailedDto, @Req() request: Request): Promise<RetryCreatedResponse> {
    const team = this.readModels.queries.teamOfBatch(id) ?? teamOf(request);
    const created = await this.intake.retryFailed(id, body ?? {}, actorOf(request), team);
    await this.readModels.settle(created.position);
    const batch = this.readModels.queries.getBatch(created.batchId);
    return { id: created.batchId, status: batch?.status ?? 'pending', total: created.total, parentBatchId: id };
  }

  @Get(':id/executions')
  @OwnTeamOnly()
  @ApiOperation({
    operationId: 'listBatchExecutions',
    summary: 'The executions of a batch, in input order; status filters on pending, triggered, cancelled, completed, failed',
  })
  @ApiOkResponse({ type: ExecutionPage })
  @ApiErrors({ 400: PAGE_QUERY_ERROR, 404: 'No batch has this id.' })
  executions(@Param('id') id: string, @Query() query: ListExecutionsQueryDto): ExecutionPage {
    this.batchView(id);
    return this.readModels.queries.listExecutions(id, {
      limit: query.limit ?? 50,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      ...(query.status === undefined ? {} : { status: query.status }),
    });
  }

  @Get(':id/waves')
  @OwnTeamOnly()
  @ApiOperation({
    operationId: 'getBatchWaves',
    summary: "The batch's waves: per due time, the executions planned and what became of them (a timeline's data)",
    description:
      'One point per wave (executions sharing a due time, a batch interval apart), or per span of several waves so that ' +
      "there are at most 500 points; `bucketSeconds` says how long a span is. Counted off the API's thread (a worker); " +
      'an answer is reused for ten times what it cost, at least 1 s, so it may be that much behind GET /v1/batches/{id}.',
  })
  @ApiOkResponse({ type: WavesView })
  @ApiErrors({ 404: 'No batch has this id.' })
  waves(@Param('id') id: string): Promise<WavesView> {
    this.batchView(id);
    return this.readModels.waves.read(id);
  }

  @Get(':id/history')
  @OwnTeamOnly()
  @ApiOperation({
    operationId: 'getBatchHistory',
    summary: 'The audit history of a batch: every event, with who did it and why; oldest first, or newest first with order=desc',
  })
  @ApiOkResponse({ type: HistoryPage })
  // PageQueryDto's limit, described with this route's default.
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: PAGE_LIMIT_MAX, default: HISTORY_PAGE_DEFAULT },
  })
  @ApiErrors({ 400: PAGE_QUERY_ERROR, 404: 'No batch has this id.' })
  history(@Param('id') id: string, @Query() query: HistoryQueryDto, @Res({ passthrough: true }) response: Response): string {
    this.batchView(id);
    // The page is JSON text already (the events' stored data written through): sent as it is.
    response.type('application/json');
    return this.readModels.queries.historyJson(id, {
      limit: query.limit ?? HISTORY_PAGE_DEFAULT,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      ...(query.order === undefined ? {} : { order: query.order }),
    });
  }

  private async createFromJson(body: unknown, actor: string, caller: Caller) {
    const dto = await validDto(CreateBatchDto, body);
    const { items, ...config } = dto;
    return this.intake.createFromJson(config, items, actor, caller);
  }

  private createFromCsv(request: Request, actor: string, caller: Caller) {
    return this.withCsvUpload(request, (config, mapping, rows) => this.intake.createFromCsv(config, mapping, rows, actor, caller));
  }

  /** Reads the `config` and `file` of a CSV upload for `use`, then disposes of the upload. */
  private async withCsvUpload<T>(
    request: Request,
    use: (config: BatchConfigDto, mapping: unknown, rows: AsyncIterable<string[]>) => Promise<T>,
  ): Promise<T> {
    const upload = await receiveUpload(request);
    try {
      const raw = jsonField(upload.fields, 'config');
      if (raw === undefined)
        throw new RuleViolation('config is required', [
          { code: 'required', field: 'config', message: 'config (a JSON string) is required' },
        ]);
      const { mapping, ...rest } = raw;
      const config = await validDto(BatchConfigDto, rest, 'config');
      if (upload.filePath === null) throw missingFile();
      return await use(config, mapping === undefined ? {} : mapping, csvRecords(upload.filePath));
    } finally {
      await upload.dispose();
    }
  }

  private async operate(batchId: string, command: BatchCommand): Promise<BatchView> {
    const result = await this.batches.handle(batchId, command, { actor: 'actor' in command ? command.actor : 'api' });
    await this.readModels.settle(result.position);
    return this.batchView(batchId);
  }

  private batchView(id: string): BatchView {
    const batch = this.readModels.queries.getBatch(id);
    if (batch === null) throw new BatchNotFound(id);
    return batch;
  }
}

const reason = (body: OperatorActionDto | undefined): { reason?: string } => (body?.reason === undefined ? {} : { reason: body.reason });

const missingFile = (): RuleViolation =>
  new RuleViolation('A "file" part with the CSV is required', [
    { code: 'required', field: 'file', message: 'A "file" part with the CSV is required' },
  ]);
