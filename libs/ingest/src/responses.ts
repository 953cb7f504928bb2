import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import type {
  BatchStatus,
  ColumnMapping,
  MappedRow,
  RetryPolicy,
  TargetMode,
  WorkflowCost,
  WorkflowDefaults,
  WorkflowInput,
  WorkflowLimits,
  WorkflowTarget,
} from '@flotilla/domain';
import { ProblemBody } from '@flotilla/platform';
import { BATCH_STATUSES, Money } from '@flotilla/projections';

/*
 * Response shapes of the workflow and intake routes, for the OpenAPI description. Each class that
 * shows a domain value `implements` its interface, and the controllers return the domain value
 * typed as the class: so the class and the domain type cannot drift apart in either direction.
 * (Batches, executions and history answer the read models' own classes, in @flotilla/projections.)
 */

export class WorkflowInputResponse implements WorkflowInput {
  @ApiProperty({ example: 'email' })
  readonly name!: string;
  @ApiProperty()
  readonly required!: boolean;
}

export class WorkflowTargetResponse implements WorkflowTarget {
  @ApiProperty({ example: 'http://127.0.0.1:4000/run' })
  readonly url!: string;
  @ApiProperty()
  readonly timeoutMs!: number;
  @ApiProperty({ enum: ['sync', 'async'] })
  readonly mode!: TargetMode;
  @ApiProperty()
  readonly callbackTimeoutMs!: number;
}

export class RetryPolicyResponse implements RetryPolicy {
  @ApiProperty()
  readonly maxAttempts!: number;
  @ApiProperty()
  readonly backoffMs!: number;
  @ApiProperty({ description: 'Seconds of continuous throttling (429 answers) after which an execution fails.' })
  readonly maxThrottleSeconds!: number;
}

export class WorkflowLimitsResponse implements WorkflowLimits {
  @ApiPropertyOptional({ description: "Absent: half of the executor's EXECUTOR_CONCURRENCY." })
  readonly maxInFlight?: number;
  @ApiPropertyOptional({ description: 'Calls started in any one second, per executor process. Absent: no such limit.' })
  readonly maxPerSecond?: number;
}

export class WorkflowCostResponse implements WorkflowCost {
  @ApiProperty({ example: 0.1 })
  readonly perExecution!: number;
  @ApiProperty({ example: 'USD' })
  readonly currency!: string;
}

export class WorkflowDefaultsResponse implements WorkflowDefaults {
  @ApiPropertyOptional({ description: 'Absent: an Extend batch runs all its inputs in one wave.' })
  readonly maxConcurrent?: number;
  @ApiPropertyOptional({ description: 'Absent: 0.' })
  readonly batchIntervalSeconds?: number;
}

/** One version of a workflow, with every default filled in. */
export class WorkflowVersionResponse {
  @ApiProperty({
    example: 'enrich-lead',
    description:
      'Workflow ids are per team: the id registered, as `<team>:<id>` for a team other than `default`. Either form names ' +
      "the workflow to its team; a caller who sees every team names another team's by the qualified form (or by the bare " +
      'id when one team only has it: a bare id of several teams answers 409, listing them).',
  })
  readonly id!: string;
  @ApiProperty({ example: 1 })
  readonly version!: number;
  @ApiProperty()
  readonly name!: string;
  @ApiProperty({ type: [WorkflowInputResponse] })
  readonly inputs!: readonly WorkflowInputResponse[];
  @ApiProperty({ type: WorkflowTargetResponse })
  readonly target!: WorkflowTargetResponse;
  @ApiProperty({ type: RetryPolicyResponse })
  readonly retry!: RetryPolicyResponse;
  @ApiProperty({ type: WorkflowLimitsResponse, description: 'Both limits hold per executor process (in Kafka mode, per executor).' })
  readonly limits!: WorkflowLimitsResponse;
  @ApiProperty({ type: WorkflowCostResponse, nullable: true, description: 'Null when the version declares no cost.' })
  readonly cost!: WorkflowCostResponse | null;
  @ApiProperty({
    type: WorkflowDefaultsResponse,
    description: 'The pacing of batches that name none (POST /workflow_runs/batch); `{}` when the version declares none.',
  })
  readonly defaults!: WorkflowDefaultsResponse;
  @ApiProperty({ format: 'date-time' })
  readonly createdAt!: string;
}

export class WorkflowVersionSummary {
  @ApiProperty()
  readonly version!: number;
  @ApiProperty()
  readonly name!: string;
  @ApiProperty({ format: 'date-time' })
  readonly createdAt!: string;
}

/** Since when, why and by whom a workflow is held. */
export class WorkflowHoldResponse {
  @ApiProperty({ format: 'date-time' })
  readonly since!: string;
  @ApiProperty({ example: 'target under maintenance until 14:00 UTC' })
  readonly reason!: string;
  @ApiProperty({ description: 'Who held it (the actor of the hold: the team/name of the key).' })
  readonly actor!: string;
}

/** The latest version of a workflow, and every version it has had. */
export class WorkflowResponse extends WorkflowVersionResponse {
  @ApiProperty({ type: [WorkflowVersionSummary] })
  readonly versions!: readonly WorkflowVersionSummary[];
  @ApiProperty({
    type: WorkflowHoldResponse,
    nullable: true,
    description: 'Set while the workflow is held (`POST /v1/workflows/{id}/hold`): none of its executions is called. Null otherwise.',
  })
  readonly held!: WorkflowHoldResponse | null;
}

/** One event of a workflow's own stream. */
export class WorkflowHistoryEntry {
  @ApiProperty({ enum: ['WorkflowVersionAdded', 'WorkflowHeld', 'WorkflowReleased', 'ColumnMappingSaved'] })
  readonly type!: string;
  @ApiProperty({ format: 'date-time' })
  readonly occurredAt!: string;
  @ApiProperty()
  readonly actor!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The reason of a hold or release; null for a version or a saved mapping.' })
  readonly reason!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: "The event's data, as docs/events.md describes it." })
  readonly data!: Record<string, unknown>;
}

export class WorkflowHistoryResponse {
  @ApiProperty({ type: [WorkflowHistoryEntry], description: 'Oldest first.' })
  readonly items!: readonly WorkflowHistoryEntry[];
}

export class BatchCreatedResponse {
  @ApiProperty({ example: 'bat_01jx5c3n8e7w6h2q9r4t5v6w7x' })
  readonly id!: string;
  @ApiProperty({ enum: BATCH_STATUSES, description: '`running`, or `pending` when startAt is in the future.' })
  readonly status!: BatchStatus;
  @ApiProperty({ description: 'Items (executions) in the batch.' })
  readonly total!: number;
}

export class RetryCreatedResponse extends BatchCreatedResponse {
  @ApiProperty({ description: 'The batch whose failed executions the new batch re-runs.' })
  readonly parentBatchId!: string;
}

/** One column's mapping: the domain's ColumnMapping union, flattened to the fields its variants have. */
export class ColumnMappingBody {
  @ApiProperty({ enum: ['input', 'profile', 'metadata', 'skip'] })
  readonly type!: ColumnMapping['type'];
  @ApiPropertyOptional({ description: '`input`: the workflow input the column fills.' })
  readonly field?: string;
  @ApiPropertyOptional({ description: '`metadata`: the metadata key the column fills.' })
  readonly key?: string;
}

/** A column mapping saved for a set of CSV headers (`PUT /v1/workflows/{id}/mappings`). */
export class SavedMappingResponse {
  @ApiProperty({ type: [String], description: 'The headers it is for, each once, sorted: a CSV with these headers in any order gets it.' })
  readonly headers!: readonly string[];
  @ApiProperty({ type: 'object', additionalProperties: { $ref: getSchemaPath(ColumnMappingBody) }, description: 'Header -> its mapping.' })
  readonly mapping!: Record<string, ColumnMappingBody>;
  @ApiProperty({ format: 'date-time' })
  readonly savedAt!: string;
  @ApiProperty({ description: 'Who saved it: the team/name of the key.' })
  readonly savedBy!: string;
}

export class SavedMappingsResponse {
  @ApiProperty({ type: [SavedMappingResponse], description: 'One per set of headers, oldest saved first.' })
  readonly items!: readonly SavedMappingResponse[];
}

export class WorkflowPage {
  @ApiProperty({ type: [WorkflowResponse], description: 'By id.' })
  readonly items!: readonly WorkflowResponse[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass it as `cursor` for the next page; null on the last page.' })
  readonly nextCursor!: string | null;
}

export class MappedRowResponse implements MappedRow {
  @ApiProperty({ description: '0-based index among the data rows.' })
  readonly index!: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  readonly inputs!: Record<string, string>;
  @ApiProperty({ type: String, nullable: true })
  readonly profile!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  readonly metadata!: Record<string, string>;
  @ApiProperty()
  readonly valid!: boolean;
  @ApiProperty({ type: [ProblemBody] })
  readonly errors!: ProblemBody[];
}

/** The domain's CsvPreview, which the preview route returns as this type (its `mapping` union is too narrow to `implement`). */
export class CsvPreviewResponse {
  @ApiProperty({ type: [String], description: 'The header row.' })
  readonly columns!: readonly string[];
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(ColumnMappingBody) },
    description: 'Header -> its mapping, explicit or automatic.',
  })
  readonly mapping!: Record<string, ColumnMappingBody>;
  @ApiProperty({ type: [ProblemBody] })
  readonly mappingErrors!: readonly ProblemBody[];
  @ApiProperty({ type: [MappedRowResponse], description: 'The first 10 data rows, mapped and checked.' })
  readonly rows!: readonly MappedRowResponse[];
  @ApiProperty()
  readonly totalRows!: number;
  @ApiProperty()
  readonly validRows!: number;
  @ApiProperty()
  readonly invalidRows!: number;
}

/** What POST /v1/batches/plan answers: the batch that the same body would create, without creating it. */
export class BatchPlanResponse {
  @ApiProperty({ description: 'Items (JSON) or data rows (CSV) in the body.' })
  readonly total!: number;
  @ApiProperty()
  readonly validItems!: number;
  @ApiProperty()
  readonly invalidItems!: number;
  @ApiProperty({
    type: [ProblemBody],
    description: 'The problems of the first 100 invalid items or rows, as the 422 of POST /v1/batches lists them.',
  })
  readonly errors!: readonly ProblemBody[];
  @ApiProperty({ description: 'ceil(validItems / maxConcurrent).' })
  readonly waves!: number;
  @ApiProperty({ format: 'date-time', description: "The start time: the config's startAt, else now." })
  readonly startAt!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the last valid item would be triggered: startAt + (waves - 1) * batchIntervalSeconds; null with no valid item.',
  })
  readonly planEndsAt!: string | null;
  @ApiProperty({
    description: '(waves - 1) * batchIntervalSeconds (0 with no valid item): from the first wave to the last, calls not included.',
  })
  readonly estimatedDurationSeconds!: number;
  @ApiProperty({
    type: Money,
    nullable: true,
    description: "validItems * the workflow version's cost.perExecution, rounded to 6 decimals; null when the version declares no cost.",
  })
  readonly estimatedCost!: Money | null;
}
