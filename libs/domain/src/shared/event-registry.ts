/**
 * The registry of a domain's event types. Written once per union (`BatchEvent`, `WorkflowEvent`, …):
 * its keys must be exactly the union's types, so a new event type that is not registered is a compile
 * error here, and everything downstream (reading the store, reading messages, projections) narrows
 * through it instead of casting.
 *
 * Each type has a schema version. An event is written with its type's current version (in its
 * metadata, `schemaVersion`; absent means 1) and read back through `read`, which runs the type's
 * upcasters from the version it was written with up to the current one, so `evolve`, projections and
 * consumers only ever see the current shape. Old events stay as they were written.
 */

/** What every domain event is: a type and its data. */
export interface DomainEvent {
  readonly type: string;
  readonly data: unknown;
}

/** Lifts an event's data from schema version `n` (the key) to `n + 1`. Pure. */
export type Upcaster = (data: unknown) => unknown;

export interface EventTypeSpec {
  /** The version new events of this type are written with. */
  readonly schemaVersion: number;
  /** Upcasters by the version they lift from: one for each version below `schemaVersion`. */
  readonly upcasters?: Readonly<Record<number, Upcaster>>;
  /**
   * Fields of the data that stay in the store and are never published (the Kafka topic, any
   * outbound copy of the event): sealed secrets. Whoever can read the topic is not whoever may
   * sign webhooks; the services that need these fields read them from the store.
   */
  readonly storeOnly?: readonly string[];
}

/** An event as recorded somewhere (the store, a message): its type, its data, the version it was written with. */
export interface RecordedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
}

export type EventSpecs<E extends DomainEvent> = { readonly [Type in E['type']]: EventTypeSpec };

/** The events of `E` whose type is one of `Types`. */
export type EventOf<E extends DomainEvent, Types extends E['type']> = Extract<E, { readonly type: Types }>;

export class EventRegistry<E extends DomainEvent> {
  readonly types: readonly E['type'][];
  private readonly specs: ReadonlyMap<string, EventTypeSpec>;

  constructor(specs: EventSpecs<E>) {
    const entries = Object.entries(specs) as [E['type'], EventTypeSpec][];
    for (const [type, spec] of entries) {
      for (let version = 1; version < spec.schemaVersion; version++) {
        if (spec.upcasters?.[version] === undefined) throw new Error(`Event type ${type} has no upcaster from schema version ${version}`);
      }
    }
    this.types = entries.map(([type]) => type);
    this.specs = new Map(entries);
  }

  has(type: string): type is E['type'] {
    return this.specs.has(type);
  }

  schemaVersionOf(type: E['type']): number {
    return this.specs.get(type)?.schemaVersion ?? 1;
  }

  /**
   * The typed event a recorded one is, upcast to its type's current schema; null when its type is
   * not in this registry. An event written by a newer version than this code knows is refused.
   */
  read(recorded: RecordedEvent): E | null {
    const spec = this.specs.get(recorded.type);
    if (spec === undefined) return null;
    const written = recorded.metadata?.schemaVersion;
    let version = typeof written === 'number' && Number.isInteger(written) && written >= 1 ? written : 1;
    if (version > spec.schemaVersion) {
      throw new Error(`Event ${recorded.type} has schema version ${version}; this code knows up to ${spec.schemaVersion}`);
    }
    let data = recorded.data;
    for (; version < spec.schemaVersion; version++) data = (spec.upcasters?.[version] as Upcaster)(data);
    return { type: recorded.type, data } as E;
  }

  /**
   * The event's data as it may leave the store: its `storeOnly` fields removed. The same object when
   * the type has none (nearly every event), so publishing pays nothing for them.
   */
  publishable<Data>(type: string, data: Data): Data {
    const storeOnly = this.specs.get(type)?.storeOnly;
    if (storeOnly === undefined || storeOnly.length === 0 || typeof data !== 'object' || data === null) return data;
    const kept: Record<string, unknown> = { ...(data as Record<string, unknown>) };
    for (const field of storeOnly) delete kept[field];
    return kept as Data;
  }

  /** One registry of these types and `other`'s, for a reader of both (their type names must not clash). */
  with<F extends DomainEvent>(other: EventRegistry<F>): EventRegistry<E | F> {
    const specs = Object.fromEntries([...this.specs, ...other.specs]);
    if (Object.keys(specs).length !== this.specs.size + other.specs.size)
      throw new Error('Event registries with a type in common cannot be joined');
    return new EventRegistry<E | F>(specs as EventSpecs<E | F>);
  }

  /** The registry of some of these types, for a reader that handles only them. */
  subset<Types extends E['type']>(...types: readonly Types[]): EventRegistry<EventOf<E, Types>> {
    const specs = Object.fromEntries(types.map((type) => [type, this.specs.get(type) as EventTypeSpec]));
    return new EventRegistry<EventOf<E, Types>>(specs as EventSpecs<EventOf<E, Types>>);
  }
}

/** The event union a registry holds: `RegisteredEvent<typeof batchEvents>` is `BatchEvent`. */
export type RegisteredEvent<Registry> = Registry extends EventRegistry<infer E> ? E : never;
