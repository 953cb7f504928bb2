import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CATCH_UP_MODES, MAX_HOLD_REASON_LENGTH, type CatchUp } from '@flotilla/domain';
import { IsOptionalNotNull, IsPageCursor } from '@flotilla/platform';
import { ApiJsonValue } from '@flotilla/projections';
import { Exclude, Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
  type ValidationArguments,
} from 'class-validator';

/** Request and response shapes of the REST API. Shapes are checked here (400); rules in the domain (422). */

/** class-transformer finds no property to walk in an instance of this class. */
@Exclude()
class Opaque {}

/**
 * A free-form JSON field (item inputs, metadata): kept exactly as parsed, never walked by
 * class-transformer. Walked as if it were a class, a `constructor` key at any depth crashed the
 * transformation (a 500), and `__proto__`, `constructor` and `toString` keys were silently dropped.
 * The walk sees an opaque instance instead, and the field is then set to the parsed value itself.
 */
export const FreeFormJson = (): PropertyDecorator =>
  applyDecorators(
    Type(() => Opaque),
    Transform(({ obj, key }) => (obj as Record<string, unknown>)[key], { toClassOnly: true }),
  );

const isPlainObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

/** With `@IsObject({ each: true })`: names the first element that is not an object (`items[2] must be an object`). */
const eachObjectMessage = ({ property, value }: ValidationArguments): string => {
  const index = Array.isArray(value) ? value.findIndex((element) => !isPlainObject(element)) : -1;
  return index < 0 ? `each of ${property} must be an object` : `${property}[${index}] must be an object`;
};

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/i;
const EARLIEST_MS = Date.parse('0000-01-01T00:00:00Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * A full RFC 3339 timestamp: date, time and `Z` or an offset, fractional seconds after a dot, a
 * real calendar date (no 2026-02-30, no 24:00) and, in UTC, a four-digit year, so the instant
 * round-trips through `toISOString`. Leap seconds (:60) are refused: JavaScript dates cannot hold
 * them. ISO 8601's other forms (weeks, ordinal days, basic format, no time zone) are refused too:
 * they parse differently or not at all.
 */
export const isRfc3339Timestamp = (value: unknown): value is string => {
  if (typeof value !== 'string') return false;
  const match = RFC3339.exec(value);
  if (match === null) return false;
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = match.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  if (day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || offsetHour > 23 || offsetMinute > 59) return false;
  const ms = Date.parse(value);
  return ms >= EARLIEST_MS && ms <= LATEST_MS;
};

/** The one check of the date-times the API accepts (`startAt`, `executeAt`). */
export const IsRfc3339 = (): PropertyDecorator =>
  ValidateBy({
    name: 'isRfc3339',
    validator: {
      validate: (value: unknown) => isRfc3339Timestamp(value),
      defaultMessage: ({ property }: ValidationArguments) =>
        `${property} must be an RFC 3339 date-time with a time zone, like 2026-12-01T09:00:00Z`,
    },
  });

export class WorkflowInputDto {
  @ApiProperty({ example: 'email' })
  @IsString()
  @Matches(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'name must start with a letter or _ and hold only letters, digits and _' })
  name!: string;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  required?: boolean;
}

export class WorkflowTargetDto {
  @ApiProperty({
    example: 'http://127.0.0.1:4000/run',
    format: 'uri',
    description: 'An http or https URL whose address OUTBOUND_DENY does not refuse (422 naming target.url otherwise).',
  })
  // Only the shape here (400); the URL rules are the domain's and the outbound rules' (422, naming the field).
  @IsString()
  url!: string;

  // Ranges are rules the domain checks (422, naming the field).
  @ApiPropertyOptional({
    default: 30000,
    minimum: 1,
    maximum: 900000,
    description: 'How long one call of the target may take (sync or async), at most 15 minutes.',
  })
  @IsOptional()
  @IsInt()
  timeoutMs?: number;

  @ApiPropertyOptional({ enum: ['sync', 'async'], default: 'sync' })
  @IsOptional()
  @IsIn(['sync', 'async'])
  mode?: 'sync' | 'async';

  @ApiPropertyOptional({
    default: 3600000,
    minimum: 1,
    maximum: 86400000,
    description: 'Async: how long after accepting an execution the target may take to post its result; past it the execution fails.',
  })
  @IsOptional()
  @IsInt()
  callbackTimeoutMs?: number;
}

export const WORKFLOW_LIMITS_DESCRIPTION =
  'What every batch of this workflow together may use of the executor. Both limits hold per executor process: ' +
  'with several executors (Kafka mode) each applies them to the executions it received, so the cluster may make up ' +
  'to N times as many calls (docs/adr/0005-flow-control-in-the-executor.md).';

export class WorkflowLimitsDto {
  @ApiPropertyOptional({
    minimum: 1,
    maximum: 10000,
    description:
      'Calls of this workflow in flight at once, all its batches together, per executor process. Default: half of EXECUTOR_CONCURRENCY.',
  })
  @IsOptional()
  @IsInt()
  maxInFlight?: number;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 10000,
    description:
      'Calls of this workflow started in any one second, all its batches together, per executor process. ' +
      "Executions over it wait in the executor's queue. Default: no such limit.",
  })
  @IsOptional()
  @IsInt()
  maxPerSecond?: number;
}

export class RetryPolicyDto {
  @ApiPropertyOptional({ default: 3 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  maxAttempts?: number;

  @ApiPropertyOptional({ default: 500 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  backoffMs?: number;

  // The range is a rule the domain checks (422, naming the field).
  @ApiPropertyOptional({
    type: 'integer',
    default: 3600,
    minimum: 1,
    maximum: 604800,
    description:
      'A 429 answer uses up no attempt: the executor slows the calls of the workflow down (Retry-After, else an exponential ' +
      'backoff) and calls again. An execution fails only after this many seconds of continuous throttling without a ' +
      'successful call.',
  })
  @IsOptional()
  @IsInt()
  maxThrottleSeconds?: number;
}

export class WorkflowCostDto {
  // The range and the currency's form are rules the domain checks (422, naming the field).
  @ApiProperty({ example: 0.1, minimum: 0, description: 'What one execution costs, in `currency`.' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  perExecution!: number;

  @ApiProperty({ example: 'USD', pattern: '^[A-Z]{3}$', description: 'Three uppercase letters.' })
  @IsString()
  currency!: string;
}

export class WorkflowDefaultsDto {
  // Ranges are rules the domain checks (422, naming the field).
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 10000,
    description: 'Executions per wave of a batch that names none (POST /workflow_runs/batch). Default there: every input at once.',
  })
  @IsOptionalNotNull()
  @IsInt({ message: 'defaults.maxConcurrent must be an integer' })
  maxConcurrent?: number;

  @ApiPropertyOptional({ minimum: 0, description: 'Seconds between the waves of such a batch. Default there: 0.' })
  @IsOptionalNotNull()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'defaults.batchIntervalSeconds must be a number' })
  batchIntervalSeconds?: number;
}

export class WorkflowVersionDto {
  @ApiProperty({ example: 'Enrich lead' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @ApiProperty({ type: [WorkflowInputDto] })
  @IsArray()
  @ArrayMaxSize(200)
  @IsObject({ each: true, message: eachObjectMessage })
  @ValidateNested({ each: true })
  @Type(() => WorkflowInputDto)
  inputs!: WorkflowInputDto[];

  @ApiProperty({ type: WorkflowTargetDto })
  @IsObject()
  @ValidateNested()
  @Type(() => WorkflowTargetDto)
  target!: WorkflowTargetDto;

  @ApiPropertyOptional({ type: RetryPolicyDto })
  @IsOptionalNotNull()
  @IsObject()
  @ValidateNested()
  @Type(() => RetryPolicyDto)
  retry?: RetryPolicyDto;

  @ApiPropertyOptional({ type: WorkflowLimitsDto, description: WORKFLOW_LIMITS_DESCRIPTION })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => WorkflowLimitsDto)
  limits?: WorkflowLimitsDto;

  @ApiPropertyOptional({
    type: WorkflowCostDto,
    description: 'What one execution costs; POST /v1/batches/plan then estimates the cost of a batch.',
  })
  @IsOptionalNotNull()
  @IsObject()
  @ValidateNested()
  @Type(() => WorkflowCostDto)
  cost?: WorkflowCostDto;

  @ApiPropertyOptional({
    type: WorkflowDefaultsDto,
    description: 'The pacing of batches that name none: those of the Extend-compatible POST /workflow_runs/batch.',
  })
  @IsOptionalNotNull()
  @IsObject()
  @ValidateNested()
  @Type(() => WorkflowDefaultsDto)
  defaults?: WorkflowDefaultsDto;
}

export class CreateWorkflowDto extends WorkflowVersionDto {
  @ApiProperty({ example: 'enrich-lead', description: 'Letters, digits, _ and - (no dots).' })
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,100}$/, { message: 'id must be 1 to 100 letters, digits, _ or -' })
  id!: string;
}

export class BatchItemDto {
  @ApiProperty({ type: 'object', additionalProperties: true, example: { email: 'ann@example.com' } })
  @IsObject()
  @FreeFormJson()
  inputs!: Record<string, unknown>;

  @ApiPropertyOptional()
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(200)
  profile?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: "Any JSON values, at most 16 KiB as JSON; overlaid on the batch's metadata (the item's keys win).",
    example: { row: 1, tags: ['vip'] },
  })
  @IsOptionalNotNull()
  @IsObject()
  @FreeFormJson()
  metadata?: Record<string, unknown>;
}

/** Everything of a batch but its items: the JSON body less `items`, or the CSV upload's `config`. */
export class BatchConfigDto {
  @ApiProperty({ example: 'November re-engagement' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @ApiProperty({
    example: 'enrich-lead',
    description: "The workflow's id as its team registered it, or qualified (`alpha:enrich-lead`); the batch records the qualified one.",
  })
  @IsString()
  @IsNotEmpty()
  workflowId!: string;

  @ApiPropertyOptional({ description: 'Default: the latest version.' })
  @IsOptionalNotNull()
  @IsInt()
  @Min(1)
  workflowVersion?: number;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'RFC 3339 (e.g. 2026-12-01T09:00:00Z); default now. In the future: the batch waits as pending.',
  })
  @IsOptionalNotNull()
  @IsRfc3339()
  startAt?: string;

  // Types are shape (400); ranges are rules the domain checks (422, naming the field).
  @ApiProperty({ minimum: 1, maximum: 10000, description: 'Executions triggered per wave.' })
  @IsInt({ message: 'maxConcurrent must be an integer' })
  maxConcurrent!: number;

  @ApiProperty({ minimum: 0, description: 'Seconds between waves.' })
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'batchIntervalSeconds must be a number' })
  batchIntervalSeconds!: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 100,
    default: 50,
    description:
      "Lower runs first (1 to 100): due executions wait in the executor's queue by priority, then batch by batch in turns " +
      'among equal priority. Per executor process in Kafka mode.',
  })
  @IsOptionalNotNull()
  @IsInt({ message: 'priority must be an integer' })
  priority?: number;

  @ApiPropertyOptional()
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(200)
  defaultProfile?: string;

  @ApiPropertyOptional({ type: [String], description: 'Given in turn to items with no profile (when there is no default profile).' })
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  profilePool?: string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Any JSON values, at most 16 KiB as JSON; sent with every target call and webhook of the batch.',
  })
  @IsOptionalNotNull()
  @IsObject()
  @FreeFormJson()
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 100,
    description:
      'Failure tolerance: once at least 10 executions have an outcome and more than this percentage of them failed, the ' +
      'batch pauses itself (actor `system`). Counted since the last resume. Default: no limit.',
  })
  @IsOptionalNotNull()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'maxFailurePercent must be a number' })
  maxFailurePercent?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    description: 'Failure tolerance: once more than this many executions failed, the batch pauses itself. Counted since the last resume.',
  })
  @IsOptionalNotNull()
  @IsInt({ message: 'maxFailures must be an integer' })
  maxFailures?: number;

  @ApiPropertyOptional({
    enum: CATCH_UP_MODES,
    default: 'paced',
    description:
      'Waves that fell due while the service could not fire them (a restart, a broker outage): `paced` re-plans the ' +
      'pending executions from the moment it is back, as a resume does (BatchReplanned, reason `catch-up after downtime`), ' +
      'so the target never gets more than maxConcurrent calls started per interval; `burst` fires every overdue wave at once.',
  })
  @IsOptionalNotNull()
  @IsIn(CATCH_UP_MODES, { message: 'catchUp must be "paced" or "burst"' })
  catchUp?: CatchUp;
}

export class CreateBatchDto extends BatchConfigDto {
  @ApiProperty({ type: [BatchItemDto] })
  @IsArray()
  @ArrayMinSize(1, { message: 'items must hold at least one item' })
  @IsObject({ each: true, message: eachObjectMessage })
  @ValidateNested({ each: true })
  @Type(() => BatchItemDto)
  items!: BatchItemDto[];
}

export class OperatorActionDto {
  @ApiPropertyOptional({ example: 'target under maintenance' })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1000)
  reason?: string;
}

/** The body of `POST /v1/workflows/{id}/hold` and `/release`. */
export class WorkflowHoldDto {
  @ApiProperty({
    example: 'target under maintenance until 14:00 UTC',
    maxLength: MAX_HOLD_REASON_LENGTH,
    description: 'Why: required, not blank, at most 500 characters; it goes into the history of the workflow and of each batch.',
  })
  // Left out or blank is a 422 naming `reason` (the domain's rule); only a non-string is a shape error.
  @IsOptionalNotNull()
  @IsString()
  reason!: string;
}

/** PUT /v1/workflows/{id}/mappings: the mapping for CSVs with these headers. The domain checks the rest (422). */
export class SaveMappingDto {
  @ApiProperty({ type: [String], example: ['Email', 'First Name', 'Note'], description: "The CSV's headers (any order)." })
  @IsOptionalNotNull()
  @IsArray()
  @IsString({ each: true })
  headers!: string[];

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { Email: { type: 'input', field: 'email' }, Note: { type: 'metadata', key: 'note' } },
    description: 'Header -> { type: input|profile|metadata|skip, field?, key? }; only headers in `headers`.',
  })
  @IsOptionalNotNull()
  @IsObject()
  mapping!: Record<string, unknown>;
}

/** What a retry of the failed executions may change; everything else comes from the parent batch. */
export class RetryFailedDto extends OperatorActionDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    description: "Re-run on this version of the parent's workflow (update the workflow, then re-run). Default: the parent's version.",
  })
  @IsOptionalNotNull()
  @IsInt({ message: 'workflowVersion must be an integer' })
  workflowVersion?: number;

  @ApiPropertyOptional({ description: "Default: the parent's name." })
  @IsOptionalNotNull()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'RFC 3339; default now.' })
  @IsOptionalNotNull()
  @IsRfc3339()
  startAt?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 10000, description: "Executions triggered per wave. Default: the parent's." })
  @IsOptionalNotNull()
  @IsInt({ message: 'maxConcurrent must be an integer' })
  maxConcurrent?: number;

  @ApiPropertyOptional({ minimum: 0, description: "Seconds between waves. Default: the parent's." })
  @IsOptionalNotNull()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'batchIntervalSeconds must be a number' })
  batchIntervalSeconds?: number;
}

/**
 * PATCH /v1/batches/{id}: the settings to change, at least one. Types are shape (400); ranges are
 * the rules of creation, checked by the domain (422, naming the field).
 */
export class ReconfigureBatchDto extends OperatorActionDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 10000, description: 'Executions triggered per wave.' })
  @IsOptionalNotNull()
  @IsInt({ message: 'maxConcurrent must be an integer' })
  maxConcurrent?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 2592000, description: 'Seconds between waves.' })
  @IsOptionalNotNull()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'batchIntervalSeconds must be a number' })
  batchIntervalSeconds?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 100,
    description: "Lower runs first. Executions already waiting in the executor's queue keep the priority they came with.",
  })
  @IsOptionalNotNull()
  @IsInt({ message: 'priority must be an integer' })
  priority?: number;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 0,
    maximum: 100,
    description: 'Failure tolerance (see POST /v1/batches); null removes the limit.',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'maxFailurePercent must be a number or null' })
  maxFailurePercent?: number | null;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 0,
    description: 'Failure tolerance (see POST /v1/batches); null removes the limit.',
  })
  @IsOptional()
  @IsInt({ message: 'maxFailures must be an integer or null' })
  maxFailures?: number | null;
}

export class RescheduleDto extends OperatorActionDto {
  @ApiProperty({ example: '2026-12-01T09:00:00Z', format: 'date-time', description: 'RFC 3339.' })
  @IsRfc3339()
  executeAt!: string;
}

export class ExecutionResultDto {
  @ApiProperty({ enum: ['completed', 'failed'] })
  @IsIn(['completed', 'failed'])
  status!: 'completed' | 'failed';

  @ApiJsonValue({ required: false, description: 'Any JSON value.' })
  @IsOptional()
  output?: unknown;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(10_000)
  error?: string;

  @ApiPropertyOptional({
    description:
      'The callbackToken the target received with the execution. Required here or in the X-Callback-Token ' +
      'header; without it the callback is refused with 403.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  callbackToken?: string;
}

/** The largest page of any list. */
export const PAGE_LIMIT_MAX = 1000;
const LIMIT_MESSAGE = `limit must be an integer from 1 to ${PAGE_LIMIT_MAX}`;

export class PageQueryDto {
  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: PAGE_LIMIT_MAX })
  @IsOptional()
  @Type(() => Number)
  // One message for the three checks: `limit=abc` is not "greater than 1000".
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(PAGE_LIMIT_MAX, { message: LIMIT_MESSAGE })
  limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page.' })
  @IsOptional()
  @IsPageCursor()
  cursor?: string;
}

/** A history page is at most 1,000 events too, and by default the largest page: an audit trail is read whole more than browsed. */
export const HISTORY_PAGE_DEFAULT = PAGE_LIMIT_MAX;

export class ListBatchesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ['pending', 'running', 'paused', 'completed', 'cancelled'] })
  @IsOptional()
  @IsIn(['pending', 'running', 'paused', 'completed', 'cancelled'])
  status?: 'pending' | 'running' | 'paused' | 'completed' | 'cancelled';

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  workflowId?: string;
}

export class HistoryQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    enum: ['asc', 'desc'],
    default: 'asc',
    description: '`asc`: oldest first (replaying); `desc`: newest first (what an operator reads). A cursor pages on in the same order.',
  })
  @IsOptional()
  @IsIn(['asc', 'desc'], { message: 'order must be asc or desc' })
  order?: 'asc' | 'desc';
}

export class ListExecutionsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ['pending', 'triggered', 'cancelled', 'completed', 'failed'] })
  @IsOptional()
  @IsIn(['pending', 'triggered', 'cancelled', 'completed', 'failed'])
  status?: 'pending' | 'triggered' | 'cancelled' | 'completed' | 'failed';
}

export const RESULT_FORMATS = ['csv', 'json', 'jsonl'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

export class ResultsQueryDto {
  @ApiPropertyOptional({ enum: RESULT_FORMATS, default: 'json', description: 'csv (RFC 4180), a JSON array, or JSON Lines.' })
  @IsOptional()
  @IsIn(RESULT_FORMATS, { message: `format must be one of ${RESULT_FORMATS.join(', ')}` })
  format?: ResultFormat;

  @ApiPropertyOptional({
    enum: ['pending', 'triggered', 'completed', 'failed', 'cancelled'],
    description: 'Only executions in this status: their outcome when they have one, else their scheduled status.',
  })
  @IsOptional()
  @IsIn(['pending', 'triggered', 'completed', 'failed', 'cancelled'], {
    message: 'status must be one of pending, triggered, completed, failed, cancelled',
  })
  status?: 'pending' | 'triggered' | 'completed' | 'failed' | 'cancelled';
}
