import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptionalNotNull, IsPageCursor } from '@flotilla/platform';
import { PageOf } from '@flotilla/projections';
import { Type } from 'class-transformer';
import { IsArray, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { DEFAULT_DELIVERY_PAGE, MAX_DELIVERY_PAGE } from './delivery-log';
import {
  EXTEND_WEBHOOK_EVENT_TYPES,
  MIN_SECRET_LENGTH,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_FORMATS,
  type AnyWebhookEventType,
  type WebhookFormat,
} from '@flotilla/domain';

const ALL_EVENT_TYPES = [...WEBHOOK_EVENT_TYPES, ...EXTEND_WEBHOOK_EVENT_TYPES];

/*
 * The DTOs check the shape of a request (a 400 from the validation pipe); the rules about the
 * values (a known event type, an http(s) URL, a long enough secret, a page size in range) are the
 * registry's, which answers with a RuleViolation (422) naming the field and the offending value.
 * So the rules hold for every caller, not only the HTTP ones.
 */

export class RegisterWebhookRequest {
  @ApiProperty({
    description: 'Absolute http or https URL that receives the POSTs.',
    example: 'https://example.com/hooks/flotilla',
    format: 'uri',
  })
  @IsString()
  url!: string;

  @ApiProperty({
    description:
      'The event types to send: for format `flotilla`, the batch.* and execution.* types; for `extend`, ' +
      'workflow_run.completed, workflow_run.failed, workflow_run.cancelled.',
    enum: ALL_EVENT_TYPES,
    isArray: true,
    example: ['execution.completed', 'execution.failed'],
  })
  @IsArray()
  @IsString({ each: true })
  events!: string[];

  @ApiProperty({
    description: 'Shared secret for the X-Signature HMAC. Stored to sign deliveries; never returned.',
    minLength: MIN_SECRET_LENGTH,
    writeOnly: true,
  })
  @IsString()
  secret!: string;

  @ApiPropertyOptional({ description: 'Only batches of this workflow are notified; absent: every batch.' })
  @IsOptionalNotNull()
  @IsString()
  workflowId?: string;

  @ApiPropertyOptional({
    enum: WEBHOOK_FORMATS,
    default: 'flotilla',
    description:
      '`flotilla`: the payload `{ id, type, … }` signed in X-Signature. ' +
      "`extend`: Extend's `{ eventId, eventType, payload: WorkflowRun }` " +
      "signed in x-extend-request-timestamp and x-extend-request-signature (what the extend-ai SDK's webhooks.verifyAndParse checks).",
  })
  @IsOptionalNotNull()
  @IsString()
  format?: string;
}

export class WebhookResponse {
  @ApiProperty({ example: 'whk_01jx5c3n8e7w6h2q9r4t5v6w7x' })
  id!: string;

  @ApiProperty({ format: 'uri' })
  url!: string;

  @ApiProperty({ enum: ALL_EVENT_TYPES, isArray: true })
  events!: AnyWebhookEventType[];

  @ApiProperty({ type: String, nullable: true })
  workflowId!: string | null;

  @ApiProperty({ enum: WEBHOOK_FORMATS })
  format!: WebhookFormat;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

/** Most webhooks on one page of GET /v1/webhooks. */
export const MAX_WEBHOOK_PAGE = 1000;
const WEBHOOK_LIMIT_MESSAGE = `limit must be an integer from 1 to ${MAX_WEBHOOK_PAGE}`;

export class WebhooksQuery {
  @ApiPropertyOptional({ description: 'Page size.', minimum: 1, maximum: MAX_WEBHOOK_PAGE, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: WEBHOOK_LIMIT_MESSAGE })
  @Min(1, { message: WEBHOOK_LIMIT_MESSAGE })
  @Max(MAX_WEBHOOK_PAGE, { message: WEBHOOK_LIMIT_MESSAGE })
  limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page.' })
  @IsOptional()
  @IsPageCursor()
  cursor?: string;
}

export class DeliveriesQuery {
  @ApiPropertyOptional({ description: 'Page size.', minimum: 1, maximum: MAX_DELIVERY_PAGE, default: DEFAULT_DELIVERY_PAGE })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: `limit must be an integer from 1 to ${MAX_DELIVERY_PAGE}` })
  limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page.' })
  @IsOptional()
  @IsPageCursor()
  cursor?: string;
}

export class DeliveryAttemptResponse {
  @ApiProperty({ description: 'The attempts of one delivery (one event to one webhook) share it.' })
  deliveryId!: string;

  @ApiProperty({ description: 'The id of the event delivered: the payload `id` and the X-Event-Id header.' })
  eventId!: string;

  @ApiProperty({ enum: ALL_EVENT_TYPES })
  eventType!: AnyWebhookEventType;

  @ApiProperty()
  batchId!: string;

  @ApiProperty({ type: String, nullable: true })
  executionId!: string | null;

  @ApiProperty({ description: '1-based.' })
  attempt!: number;

  @ApiProperty({ type: Number, nullable: true, description: 'Null when no response arrived (timeout, connection error).' })
  statusCode!: number | null;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;

  @ApiProperty()
  delivered!: boolean;

  @ApiProperty()
  durationMs!: number;

  @ApiProperty({ format: 'date-time', description: 'When the outcome of the attempt was known.' })
  occurredAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Null when delivered or given up.' })
  nextAttemptAt!: string | null;
}

/** Newest first; `nextCursor` leads to the next, older page. */
export class DeliveriesPageResponse extends PageOf(DeliveryAttemptResponse) {}
export class WebhookPageResponse extends PageOf(WebhookResponse) {}
