import type { DomainEvent, EventRegistry } from '@flotilla/domain';
import type { EventMetadata, StoredEvent } from '@flotilla/event-store';
import type { Defer } from './ordered-window';

/**
 * An event as it travels between services (and to downstream Kafka consumers). The payload is the
 * stored event, with where it came from; `id` is the event's id, so a consumer that sees the same
 * message twice (delivery is at least once) can tell. Documented in docs/events.md.
 */
export interface EventMessage {
  readonly schemaVersion: 1;
  readonly id: string;
  readonly type: string;
  /** Partition key: the batch id for batch events, else the stream's id. Per-key order is kept. */
  readonly key: string;
  readonly stream: string;
  readonly revision: number;
  /** Global position in the event store, as a decimal string. */
  readonly position: string;
  readonly occurredAt: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

export const toMessage = (event: StoredEvent): EventMessage => {
  const data = event.data as { batchId?: unknown; occurredAt?: unknown };
  return {
    schemaVersion: 1,
    id: event.id,
    type: event.type,
    key: typeof data?.batchId === 'string' ? data.batchId : event.streamName.slice(event.streamName.indexOf('-') + 1),
    stream: event.streamName,
    revision: event.revision,
    position: event.position.toString(),
    occurredAt: typeof data?.occurredAt === 'string' ? data.occurredAt : event.recordedAt.toISOString(),
    data: event.data,
    metadata: event.metadata,
  };
};

/**
 * What a handler may do with the message it was given besides returning. `defer()` takes over the
 * message's completion: the handler's returned promise then no longer decides it; the message stays
 * uncommitted (and counts against the consumer's concurrency) until the returned settle function is
 * called: 'done' commits it in order and remembers it as handled, 'failed' never commits past it, so
 * it is delivered again after a restart. For work that waits long (an execution in the executor's
 * queue) without keeping a handler in progress. A deferred message is neither retried nor dead-lettered.
 */
export interface Delivery {
  readonly defer: Defer;
}

export type MessageHandler = (message: EventMessage, delivery: Delivery) => Promise<void>;

export interface ConsumeOptions {
  /** The consumer group: each group gets every message once; members of a group share the work. */
  readonly group: string;
  /** The event types this consumer handles; others are not delivered to it. */
  readonly eventTypes: readonly string[];
  /** Messages handled at once. Default 1. */
  readonly concurrency?: number;
  /** `key`: messages with the same key are handled one at a time, in order (default). `none`: any order. */
  readonly ordering?: 'key' | 'none';
  /** Attempts before a message goes to the dead letters. Default 5. */
  readonly maxAttempts?: number;
}

export interface MessageConsumer {
  /** Resolves when the consumer has caught up with what was published before it started. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * How services receive events. Delivery is at least once and per-key ordered; a handler that keeps
 * failing has its message moved to the dead letters (with the error) so the rest flows.
 * Publishing is not part of it: services append to the event store, and the transport (or its
 * relay) carries what was appended.
 */
export interface MessageTransport {
  consume(options: ConsumeOptions, handler: MessageHandler): Promise<MessageConsumer>;
  close(): Promise<void>;
}

export interface DeadLetter {
  readonly group: string;
  readonly message: EventMessage;
  readonly error: string;
  readonly attempts: number;
  readonly failedAt: string;
}

/** A message whose event is one of `E`, typed by its `type`: narrowing on `type` narrows `data`. */
export type TypedMessage<E extends DomainEvent> = E extends unknown
  ? Omit<EventMessage, 'type' | 'data'> & { readonly type: E['type']; readonly data: E['data'] }
  : never;

/**
 * How a service consumes events: by a registry (or a subset of one) rather than a list of type names,
 * so its handler gets typed messages, upcast to the current schema of their type, instead of casting
 * `message.data`. The transport below moves envelopes and knows nothing of the domain.
 */
export const consumeEvents = <E extends DomainEvent>(
  transport: MessageTransport,
  options: Omit<ConsumeOptions, 'eventTypes'> & { readonly events: EventRegistry<E> },
  handler: (message: TypedMessage<E>, delivery: Delivery) => Promise<void>,
): Promise<MessageConsumer> => {
  const { events, ...rest } = options;
  return transport.consume({ ...rest, eventTypes: events.types }, async (message, delivery) => {
    const typed = readMessage(events, message);
    // The transport filters by type already; anything else is not this consumer's.
    if (typed !== null) await handler(typed, delivery);
  });
};

/** The message as one of the registry's events, upcast to its type's current schema; null when its type is not in the registry. */
export const readMessage = <E extends DomainEvent>(events: EventRegistry<E>, message: EventMessage): TypedMessage<E> | null => {
  const event = events.read(message);
  if (event === null) return null;
  // Upcasting made new data only for events written with an older schema: the rest go as they are.
  return (event.data === message.data ? message : { ...message, data: event.data }) as TypedMessage<E>;
};
