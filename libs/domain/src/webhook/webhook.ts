import type { BatchEventType } from '../batch/batch.events';
import { batchEvents } from '../batch/batch.registry';
import { DomainError, RuleViolation, type Problem } from '../shared/errors';
import { EventRegistry } from '../shared/event-registry';
import { httpUrlProblems } from '../shared/url';
import type { SealedSecret } from '../shared/sealed-secret';

/**
 * Webhooks: an HTTP endpoint that is sent a signed POST for each batch event it subscribed to.
 *
 * Both facts about webhooks are events. Registrations go to one stream (the registry), so a process
 * that starts reads one stream to know every webhook; the registry is decided like a batch or a
 * workflow, so one id is registered once. Each delivery attempt goes to the webhook's own stream,
 * which is its delivery log.
 */

/** The event types a webhook can subscribe to: the public names, decoupled from the domain's event names. */
export const WEBHOOK_EVENT_TYPES = [
  'batch.started',
  'batch.paused',
  'batch.resumed',
  'batch.reconfigured',
  'batch.held',
  'batch.released',
  'batch.cancelled',
  'batch.completed',
  'batch.settled',
  'batch.retried',
  'batch.throttled',
  'batch.throttle_lifted',
  'execution.completed',
  'execution.failed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const webhookEventTypeSet: ReadonlySet<string> = new Set(WEBHOOK_EVENT_TYPES);
export const isWebhookEventType = (value: string): value is WebhookEventType => webhookEventTypeSet.has(value);

/** Which batch event each webhook event type announces. */
export const WEBHOOK_TYPE_OF = {
  BatchStarted: 'batch.started',
  BatchPaused: 'batch.paused',
  BatchResumed: 'batch.resumed',
  BatchReconfigured: 'batch.reconfigured',
  BatchHeld: 'batch.held',
  BatchReleased: 'batch.released',
  BatchCancelled: 'batch.cancelled',
  BatchCompleted: 'batch.completed',
  BatchSettled: 'batch.settled',
  BatchRetried: 'batch.retried',
  BatchThrottled: 'batch.throttled',
  BatchThrottleLifted: 'batch.throttle_lifted',
  ExecutionCompleted: 'execution.completed',
  ExecutionFailed: 'execution.failed',
} as const satisfies Partial<Record<BatchEventType, WebhookEventType>>;

export type NotifiedBatchEventType = keyof typeof WEBHOOK_TYPE_OF;

/**
 * Extend-format webhooks (`format: "extend"`): the body is `{ eventId, eventType, payload: WorkflowRun }`,
 * signed with Extend's headers, and these are the event types such a webhook subscribes to.
 */
export const EXTEND_WEBHOOK_EVENT_TYPES = ['workflow_run.completed', 'workflow_run.failed', 'workflow_run.cancelled'] as const;

export type ExtendWebhookEventType = (typeof EXTEND_WEBHOOK_EVENT_TYPES)[number];

/** An event type of either format: what a subscription, a queued delivery and a delivery attempt name. */
export type AnyWebhookEventType = WebhookEventType | ExtendWebhookEventType;

export const WEBHOOK_FORMATS = ['flotilla', 'extend'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/**
 * Which batch event each Extend event type announces. A `BatchCancelled` announces
 * `workflow_run.cancelled` once for each run it cancelled (see docs/events.md for the bound).
 */
export const EXTEND_TYPE_OF = {
  ExecutionCompleted: 'workflow_run.completed',
  ExecutionFailed: 'workflow_run.failed',
  ExecutionCancelled: 'workflow_run.cancelled',
  BatchCancelled: 'workflow_run.cancelled',
} as const satisfies Partial<Record<BatchEventType, ExtendWebhookEventType>>;

export const extendTypeOf = (batchEventType: string): ExtendWebhookEventType | undefined =>
  Object.hasOwn(EXTEND_TYPE_OF, batchEventType) ? EXTEND_TYPE_OF[batchEventType as keyof typeof EXTEND_TYPE_OF] : undefined;

/** The batch event types the notifier consumes: those of both formats. */
export const NOTIFIED_BATCH_EVENT_TYPES = [...new Set([...Object.keys(WEBHOOK_TYPE_OF), ...Object.keys(EXTEND_TYPE_OF)])] as (
  NotifiedBatchEventType | keyof typeof EXTEND_TYPE_OF
)[];

/** The registry of the batch events the notifier consumes. */
export const notifiedBatchEvents = batchEvents.subset(...NOTIFIED_BATCH_EVENT_TYPES);

export const webhookTypeOf = (batchEventType: string): WebhookEventType | undefined =>
  Object.hasOwn(WEBHOOK_TYPE_OF, batchEventType) ? WEBHOOK_TYPE_OF[batchEventType as NotifiedBatchEventType] : undefined;

export type WebhookRegistered = {
  readonly type: 'WebhookRegistered';
  readonly data: {
    readonly webhookId: string;
    readonly url: string;
    readonly events: readonly AnyWebhookEventType[];
    /** Only batches of this workflow are notified; absent: every batch. */
    readonly workflowId?: string;
    /** The body and signature scheme; absent (every registration before the field existed): `flotilla`. */
    readonly format?: WebhookFormat;
    /**
     * The signing secret, sealed (AES-256-GCM under a key outside the store): the notifier needs the
     * secret itself to compute HMACs, so a hash would not do. A plain string is a registration made
     * before secrets were sealed, still read as it is. No read API ever returns it.
     */
    readonly secret: string | SealedSecret;
    readonly occurredAt: string;
    readonly actor: string;
  };
};

/**
 * One attempt to deliver one event to one webhook. A delivery (`deliveryId`) is the sequence of
 * attempts for one event and one webhook. `nextAttemptAt` is set when another attempt will follow;
 * a failed attempt without it is the last one: the delivery was given up.
 */
export type WebhookDeliveryAttempted = {
  readonly type: 'WebhookDeliveryAttempted';
  readonly data: {
    readonly webhookId: string;
    readonly deliveryId: string;
    /** The id of the batch event delivered (also the payload's `id`). */
    readonly eventId: string;
    readonly eventType: AnyWebhookEventType;
    readonly batchId: string;
    readonly executionId?: string;
    /** 1-based. */
    readonly attempt: number;
    /** Absent when no response arrived (timeout, connection error). */
    readonly statusCode?: number;
    readonly error?: string;
    readonly durationMs: number;
    readonly delivered: boolean;
    readonly nextAttemptAt?: string;
    readonly occurredAt: string;
  };
};

/** A webhook as every read API shows it: never with its secret. */
export interface Webhook {
  readonly id: string;
  readonly url: string;
  readonly events: readonly AnyWebhookEventType[];
  readonly workflowId: string | null;
  readonly format: WebhookFormat;
  readonly createdAt: string;
  readonly createdBy: string;
}

export type RegisterWebhook = {
  readonly type: 'RegisterWebhook';
  readonly webhookId: string;
  readonly url: string;
  readonly events: readonly string[];
  /** In clear, for the rules (its length); never recorded. */
  readonly secret: string;
  /** The same secret sealed by the application (the domain holds no key): what the event records. */
  readonly sealedSecret: SealedSecret;
  readonly workflowId?: string;
  /** Default `flotilla`. */
  readonly format?: string;
  readonly actor: string;
  readonly now: Date;
};

export type WebhookCommand = RegisterWebhook;
export type WebhookEvent = WebhookRegistered;

/** What the registry's decisions need: the ids already registered. */
export interface WebhookRegistryState {
  readonly ids: ReadonlySet<string>;
}

export const initialWebhookRegistry = (): WebhookRegistryState => ({ ids: new Set() });

export const evolveWebhookRegistry = (state: WebhookRegistryState, event: WebhookEvent): WebhookRegistryState =>
  event.type === 'WebhookRegistered' ? { ids: new Set([...state.ids, event.data.webhookId]) } : state;

export const webhookEvents = new EventRegistry<WebhookEvent>({ WebhookRegistered: { schemaVersion: 1, storeOnly: ['secret'] } });
export const webhookDeliveryEvents = new EventRegistry<WebhookDeliveryAttempted>({ WebhookDeliveryAttempted: { schemaVersion: 1 } });

export const MIN_SECRET_LENGTH = 8;

/** The rules a registration must keep; each broken rule names its field (and the offending value). */
const isWebhookFormat = (value: string): value is WebhookFormat => (WEBHOOK_FORMATS as readonly string[]).includes(value);

/** The event types a webhook of `format` may subscribe to. */
export const eventTypesOfFormat = (format: WebhookFormat): readonly AnyWebhookEventType[] =>
  format === 'extend' ? EXTEND_WEBHOOK_EVENT_TYPES : WEBHOOK_EVENT_TYPES;

export const validateRegistration = (input: Pick<RegisterWebhook, 'url' | 'events' | 'secret' | 'workflowId' | 'format'>): Problem[] => {
  const problems: Problem[] = [];
  const problem = (code: string, field: string, message: string): void => void problems.push({ code, field, message });
  problems.push(...httpUrlProblems(input.url, 'url'));
  const format = input.format ?? 'flotilla';
  if (!isWebhookFormat(format))
    problem('unknown_format', 'format', `unknown format ${JSON.stringify(format)}; allowed: ${WEBHOOK_FORMATS.join(', ')}`);
  const allowed: readonly string[] = isWebhookFormat(format) ? eventTypesOfFormat(format) : [];
  if (input.events.length === 0) problem('no_events', 'events', 'events must name at least one event type');
  input.events.forEach((type, index) => {
    if (isWebhookFormat(format) && !allowed.includes(type)) {
      problem(
        'unknown_event_type',
        `events[${index}]`,
        `unknown event type ${JSON.stringify(type)} for format ${format}; allowed: ${allowed.join(', ')}`,
      );
    }
  });
  if (input.secret.length < MIN_SECRET_LENGTH)
    problem('secret_too_short', 'secret', `secret must be at least ${MIN_SECRET_LENGTH} characters`);
  if (input.workflowId !== undefined && input.workflowId.trim() === '')
    problem('invalid_workflow_id', 'workflowId', 'workflowId must not be empty');
  return problems;
};

/**
 * Registers a webhook: the registration event, or `RuleViolation` listing every broken rule, or
 * `WebhookAlreadyExists` for an id already taken. Duplicate event types are kept once.
 */
export const decideWebhookRegistry = (command: WebhookCommand, state: WebhookRegistryState): WebhookEvent[] => {
  if (state.ids.has(command.webhookId)) throw new WebhookAlreadyExists(command.webhookId);
  const problems = validateRegistration(command);
  if (problems.length > 0) throw new RuleViolation('The webhook registration is invalid', problems);
  const format = (command.format ?? 'flotilla') as WebhookFormat;
  const allowedTypes: readonly string[] = eventTypesOfFormat(format);
  return [
    {
      type: 'WebhookRegistered',
      data: {
        webhookId: command.webhookId,
        url: command.url,
        events: [...new Set(command.events.filter((type): type is AnyWebhookEventType => allowedTypes.includes(type)))],
        ...(command.workflowId === undefined ? {} : { workflowId: command.workflowId }),
        ...(format === 'flotilla' ? {} : { format }),
        secret: command.sealedSecret,
        occurredAt: command.now.toISOString(),
        actor: command.actor,
      },
    },
  ];
};

export const webhookOf = ({ data }: WebhookRegistered): Webhook => ({
  id: data.webhookId,
  url: data.url,
  events: data.events,
  workflowId: data.workflowId ?? null,
  format: data.format ?? 'flotilla',
  createdAt: data.occurredAt,
  createdBy: data.actor,
});

export class WebhookNotFound extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'webhook_not_found';
  constructor(readonly webhookId: string) {
    super(`Webhook ${webhookId} does not exist`);
    this.name = 'WebhookNotFound';
  }
}

export class WebhookAlreadyExists extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'webhook_already_exists';
  constructor(readonly webhookId: string) {
    super(`Webhook ${webhookId} already exists`);
    this.name = 'WebhookAlreadyExists';
  }
}
