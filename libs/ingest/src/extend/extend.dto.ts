import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptionalNotNull } from '@flotilla/platform';
import { INVALID_RUN_PAGE_TOKEN, WORKFLOW_RUN_STATUSES, decodeRunPageToken, type WorkflowRunStatus } from '@flotilla/projections';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
  type ValidationArguments,
} from 'class-validator';
import { FreeFormJson } from '../dto';

/**
 * Request shapes of the Extend-compatible API, as the `extend-ai` SDK sends them. Shapes are 400s
 * (Extend's "invalid request body"); rules (the workflow's inputs, priority's range, secrets) 422s.
 */

export const MAX_EXTEND_INPUTS = 1000;

const FILE_KINDS = ['url', 'id', 'text'] as const;
const FILE_KEYS = new Set<string>([...FILE_KINDS, 'name', 'settings']);

/** Why `file` is not one of `{ url, name? }`, `{ id }`, `{ text, name? }`, or null when it is. */
export const fileShapeProblem = (file: unknown): string | null => {
  if (typeof file !== 'object' || file === null || Array.isArray(file))
    return 'must be an object: { url, name? }, { id } or { text, name? }';
  const record = file as Record<string, unknown>;
  const unknown = Object.keys(record).find((key) => !FILE_KEYS.has(key));
  if (unknown !== undefined) return `has an unknown field ${JSON.stringify(unknown)}`;
  const kinds = FILE_KINDS.filter((kind) => record[kind] !== undefined);
  if (kinds.length !== 1) return 'must have exactly one of url, id or text';
  const [kind] = kinds;
  if (kind === undefined || typeof record[kind] !== 'string' || record[kind] === '') return `.${kind} must be a non-empty string`;
  if (kind === 'url' && !/^https?:\/\/\S+$/i.test(record['url'] as string)) return '.url must be an http or https URL';
  if (record['name'] !== undefined && typeof record['name'] !== 'string') return '.name must be a string';
  if (kind === 'id' && record['name'] !== undefined) return '.name goes with url or text, not id';
  if (record['settings'] !== undefined && kind !== 'url') return '.settings goes with url only';
  return null;
};

const IsExtendFile = (): PropertyDecorator =>
  ValidateBy({
    name: 'isExtendFile',
    validator: {
      validate: (value: unknown) => fileShapeProblem(value) === null,
      defaultMessage: ({ property, value }: ValidationArguments) => `${property} ${fileShapeProblem(value) ?? 'is invalid'}`,
    },
  });

export class WorkflowReferenceDto {
  @ApiProperty({ example: 'parse-invoice', description: 'The Flotilla workflow id.' })
  @IsString()
  @IsNotEmpty()
  id!: string;

  @ApiPropertyOptional({
    example: '1',
    description: 'A version number as a string, "latest", or "draft" (the newest version). Default: the latest.',
  })
  @IsOptionalNotNull()
  @IsString()
  @ValidateBy({
    name: 'isWorkflowVersionRef',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && /^(latest|draft|[1-9]\d{0,8})$/.test(value),
      defaultMessage: () => 'workflow.version must be a version number as a string ("1"), "latest" or "draft"',
    },
  })
  version?: string;
}

export class ExtendInputDto {
  @ApiProperty({
    description:
      'The file: `{ url, name? }`, `{ id }` or `{ text, name? }`. It reaches the target as the input `file`, as given: ' +
      'the workflow must declare an input named `file`.',
    type: 'object',
    additionalProperties: true,
    example: { url: 'https://example.com/invoice1.pdf' },
  })
  @IsDefined({ message: 'file is required: each input needs a file' })
  @IsExtendFile()
  @FreeFormJson()
  file!: Record<string, unknown>;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Any JSON, at most 16 KiB as JSON; reaches the target, the run and its webhooks with its types.',
    example: { customerId: 'cust_abc123' },
  })
  @IsOptionalNotNull()
  @IsObject()
  @FreeFormJson()
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description:
      'An object, at most 16 KiB as JSON: sealed with AES-256-GCM before it is recorded, sent to the target as `secrets` on each call, ' +
      'never shown by a read, an export, a webhook or the log.',
  })
  @IsOptional()
  @FreeFormJson()
  secrets?: unknown;
}

export class CreateWorkflowRunBatchDto {
  @ApiProperty({ type: WorkflowReferenceDto })
  @IsObject()
  @ValidateNested()
  @Type(() => WorkflowReferenceDto)
  workflow!: WorkflowReferenceDto;

  @ApiProperty({ type: [ExtendInputDto], minItems: 1, maxItems: MAX_EXTEND_INPUTS })
  @IsArray()
  @ArrayMinSize(1, { message: 'inputs must hold at least 1 input' })
  @ArrayMaxSize(MAX_EXTEND_INPUTS, { message: `inputs may hold at most ${MAX_EXTEND_INPUTS} inputs` })
  @IsObject({ each: true, message: 'each of inputs must be an object' })
  @ValidateNested({ each: true })
  @Type(() => ExtendInputDto)
  inputs!: ExtendInputDto[];

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 90, description: 'Lower runs first.' })
  @IsOptionalNotNull()
  @IsInt({ message: 'priority must be an integer' })
  priority?: number;
}

export class ListWorkflowRunsQueryDto {
  @ApiPropertyOptional({ description: 'Only the runs of this batch.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  batchId?: string;

  @ApiPropertyOptional({ description: 'Only the runs of this workflow.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  workflowId?: string;

  @ApiPropertyOptional({ enum: WORKFLOW_RUN_STATUSES })
  @IsOptional()
  @IsIn(WORKFLOW_RUN_STATUSES, { message: `status must be one of ${WORKFLOW_RUN_STATUSES.join(', ')}` })
  status?: WorkflowRunStatus;

  @ApiPropertyOptional({ description: 'The `nextPageToken` of the previous page.' })
  @IsOptional()
  @ValidateBy({
    name: 'isRunPageToken',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && decodeRunPageToken(value) !== null,
      defaultMessage: () => INVALID_RUN_PAGE_TOKEN,
    },
  })
  nextPageToken?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1000, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'maxPageSize must be an integer from 1 to 1000' })
  @Min(1, { message: 'maxPageSize must be an integer from 1 to 1000' })
  @Max(1000, { message: 'maxPageSize must be an integer from 1 to 1000' })
  maxPageSize?: number;
}
