import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsPageCursor } from '@flotilla/platform';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

/** Request and response shapes of the REST API. Shapes are checked here (400); rules in the domain (422). */

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
  @ApiProperty({ example: 'http://127.0.0.1:4000/run' })
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  url!: string;

  @ApiPropertyOptional({ default: 30000, description: 'Per call (sync) or until the callback (async).' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86_400_000)
  timeoutMs?: number;

  @ApiPropertyOptional({ enum: ['sync', 'async'], default: 'sync' })
  @IsOptional()
  @IsIn(['sync', 'async'])
  mode?: 'sync' | 'async';
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
  @ValidateNested({ each: true })
  @Type(() => WorkflowInputDto)
  inputs!: WorkflowInputDto[];

  @ApiProperty({ type: WorkflowTargetDto })
  @IsObject()
  @ValidateNested()
  @Type(() => WorkflowTargetDto)
  target!: WorkflowTargetDto;

  @ApiPropertyOptional({ type: RetryPolicyDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => RetryPolicyDto)
  retry?: RetryPolicyDto;
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
  inputs!: Record<string, unknown>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(200)
  profile?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, string>;
}

/** Everything of a batch but its items: the JSON body less `items`, or the CSV upload's `config`. */
export class BatchConfigDto {
  @ApiProperty({ example: 'November re-engagement' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @ApiProperty({ example: 'enrich-lead' })
  @IsString()
  @IsNotEmpty()
  workflowId!: string;

  @ApiPropertyOptional({ description: 'Default: the latest version.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  workflowVersion?: number;

  @ApiPropertyOptional({ description: 'ISO 8601; default now. In the future: the batch waits as pending.' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'startAt must be an ISO 8601 date-time' })
  startAt?: string;

  // Types are shape (400); ranges are rules the domain checks (422, naming the field).
  @ApiProperty({ minimum: 1, maximum: 10000, description: 'Executions triggered per wave.' })
  @IsInt({ message: 'maxConcurrent must be an integer' })
  maxConcurrent!: number;

  @ApiProperty({ minimum: 0, description: 'Seconds between waves.' })
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'batchIntervalSeconds must be a number' })
  batchIntervalSeconds!: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(200)
  defaultProfile?: string;

  @ApiPropertyOptional({ type: [String], description: 'Given in turn to items with no profile (when there is no default profile).' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  profilePool?: string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, string>;
}

export class CreateBatchDto extends BatchConfigDto {
  @ApiProperty({ type: [BatchItemDto] })
  @IsArray()
  @ArrayMinSize(1, { message: 'items must hold at least one item' })
  @ValidateNested({ each: true })
  @Type(() => BatchItemDto)
  items!: BatchItemDto[];
}

export class OperatorActionDto {
  @ApiPropertyOptional({ example: 'target under maintenance' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;
}

export class RescheduleDto extends OperatorActionDto {
  @ApiProperty({ example: '2026-12-01T09:00:00Z' })
  @IsISO8601({ strict: true }, { message: 'executeAt must be an ISO 8601 date-time' })
  executeAt!: string;
}

export class ExecutionResultDto {
  @ApiProperty({ enum: ['completed', 'failed'] })
  @IsIn(['completed', 'failed'])
  status!: 'completed' | 'failed';

  @ApiPropertyOptional({ description: 'Any JSON value.' })
  @IsOptional()
  output?: unknown;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(10_000)
  error?: string;
}

const LIMIT_MESSAGE = 'limit must be an integer from 1 to 1000';

export class PageQueryDto {
  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  // One message for the three checks: `limit=abc` is not "greater than 1000".
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(1000, { message: LIMIT_MESSAGE })
  limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page.' })
  @IsOptional()
  @IsPageCursor()
  cursor?: string;
}

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

export class ListExecutionsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ['pending', 'triggered', 'cancelled', 'completed', 'failed'] })
  @IsOptional()
  @IsIn(['pending', 'triggered', 'cancelled', 'completed', 'failed'])
  status?: 'pending' | 'triggered' | 'cancelled' | 'completed' | 'failed';
}
