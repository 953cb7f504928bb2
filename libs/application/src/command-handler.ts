import { DomainError, type DomainEvent, type EventRegistry } from '@flotilla/domain';
import {
  WrongExpectedRevisionError,
  type EventMetadata,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type StreamName,
} from '@flotilla/event-store';
import { KeyedLock } from './keyed-lock';
import { SnapshotStore, type SnapshotOptions } from './snapshot-store';

/**
 * A decider as the domain writes one: pure functions over a state, and the registry of its event
 * types, through which stored events are read back typed (and upcast to the current schema). Events
 * on the stream that the registry does not know only move the revision on.
 */
export interface Decider<State, Command, Event extends DomainEvent> {
  readonly decide: (command: Command, state: State) => readonly Event[];
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
  readonly events: EventRegistry<Event>;
}

export interface CommandHandlerOptions<State, Event = DomainEvent> {
  /** Which stream a command's id names. */
  readonly streamOf: (id: string) => StreamName;
  /** States kept in memory, most recently used; only the events after them are read per command. 0: no cache. Default 1000. */
  readonly maxCachedStates?: number;
  /** Attempts when another writer appended first (each re-reads and decides again). Default 20. */
  readonly maxAttempts?: number;
  /** Snapshots of the state, so a cold load reads the newest one and the events after it. Absent: none. */
  readonly snapshots?: SnapshotOptions<State>;
  /**
   * Told of every group of events once it is durably appended, with the state they led to: each
   * event is appended by exactly one handler in one process, so counting here counts each fact once
   * (the metrics do). Must not throw and must not block.
   */
  readonly onAppended?: (events: readonly Event[], state: State) => void;
}

export interface HandleResult<State, Event> {
  readonly events: readonly Event[];
  readonly state: State;
  /** Global position of the last appended event; null when nothing was appended. */
  readonly position: GlobalPosition | null;
}

export interface HandleAllResult<State, Event> extends HandleResult<State, Event> {
  /** For each command, in order: null when it was decided, else the domain error that refused it. */
  readonly errors: readonly (DomainError | null)[];
}

interface Loaded<State> {
  state: State;
  /** Revision of the last event folded into `state`; -1 for a stream that does not exist. */
  revision: number;
  /** Revision of the newest snapshot, -1 when there is none. */
  snapshotRevision: number;
}

/**
 * The one command handler: read the state of a stream, decide, append with the revision that was
 * read, fold the new events in. When another writer appended first the append fails, the stream is
 * read again from where it was and the command decided again, so a decision is always made on the
 * latest state. That is what makes pause and cancel strict: a trigger decided before a pause cannot
 * be appended after it.
 *
 * Commands on one stream run one at a time in this process; other processes are kept out by the
 * expected revision. States are cached (only new events are read per command) and, where the
 * options say so, snapshotted (a cold load reads the newest snapshot and the events after it).
 *
 * `evolve` may update a state in place (the batch's execution table does, for a million items), so
 * a state that folded events which were then not appended is dropped from the cache, never kept.
 */
export class CommandHandler<State, Command, Event extends DomainEvent> {
  private readonly cache = new Map<string, Loaded<State>>();
  private readonly locks = new KeyedLock();
  private readonly snapshots: SnapshotStore<State> | null;
  private readonly maxCachedStates: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly store: EventStore,
    private readonly decider: Decider<State, Command, Event>,
    private readonly options: CommandHandlerOptions<State, Event>,
  ) {
    this.snapshots = options.snapshots && options.snapshots.every > 0 ? new SnapshotStore(store, options.snapshots) : null;
    this.maxCachedStates = options.maxCachedStates ?? 1000;
    this.maxAttempts = options.maxAttempts ?? 20;
  }

  /** The current state behind `id` (the initial state when its stream does not exist). */
  load(id: string): Promise<State> {
    return this.locks.run(id, async () => (await this.catchUp(id)).state);
  }

  /**
   * Decides `command` (or the command built from the current state) and appends its events. Domain
   * errors are thrown as they are; concurrency conflicts are retried.
   */
  async handle(
    id: string,
    command: Command | ((state: State) => Command),
    metadata: EventMetadata = {},
  ): Promise<HandleResult<State, Event>> {
    const commandOf = typeof command === 'function' ? (command as (state: State) => Command) : () => command;
    const { events, state, position } = await this.locks.run(id, () =>
      this.decideAndAppend(id, (state) => [commandOf(state)], metadata, false),
    );
    return { events, state, position };
  }

  /**
   * Decides several commands in turn, each on the state the previous ones left, and appends all their
   * events at once (one durable write for a group). A command refused by a domain rule is skipped and
   * its error returned at its place in `errors`; the others go ahead.
   */
  handleAll(id: string, commands: readonly Command[], metadata: EventMetadata = {}): Promise<HandleAllResult<State, Event>> {
    return this.locks.run(id, () => this.decideAndAppend(id, () => commands, metadata, true));
  }

  /** Forgets a cached state (the next command reads it from the store). */
  evict(id: string): void {
    this.cache.delete(id);
  }

  private async decideAndAppend(
    id: string,
    commandsOf: (state: State) => readonly Command[],
    metadata: EventMetadata,
    collectRefusals: boolean,
  ): Promise<HandleAllResult<State, Event>> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.catchUp(id);
      const events: Event[] = [];
      const errors: (DomainError | null)[] = [];
      let state = loaded.state;
      // Events folded into `state` before the append: only a group of commands needs that, and it
      // makes the cached state ahead of the store until the append succeeds.
      let folded = 0;
      try {
        for (const command of commandsOf(loaded.state)) {
          if (events.length > folded) {
            state = this.fold(state, events.slice(folded));
            folded = events.length;
          }
          try {
            events.push(...this.decider.decide(command, state));
            errors.push(null);
          } catch (error) {
            if (!collectRefusals || !(error instanceof DomainError)) throw error;
            errors.push(error);
          }
        }
      } catch (error) {
        if (folded > 0) this.cache.delete(id);
        throw error;
      }
      if (events.length === 0) {
        if (folded > 0) loaded.state = state;
        return { events, errors, state, position: null };
      }
      try {
        const result = await this.store.appendToStream(
          this.options.streamOf(id),
          events.map((event) => this.toNewEvent(event, metadata)),
          { expectedRevision: loaded.revision < 0 ? 'no_stream' : loaded.revision },
        );
        // Our own events are folded in: the cached state is then current without reading them back.
        loaded.state = this.fold(state, events.slice(folded));
        loaded.revision = result.nextExpectedRevision;
        this.options.onAppended?.(events, loaded.state);
        await this.snapshotIfDue(id, loaded);
        return { events, errors, state: loaded.state, position: result.position };
      } catch (error) {
        if (folded > 0) this.cache.delete(id);
        if (!(error instanceof WrongExpectedRevisionError) || attempt >= this.maxAttempts) throw error;
      }
    }
  }

  /** Events are written with their type's schema version; version 1 is left implicit (it is what absence means). */
  private toNewEvent(event: Event, metadata: EventMetadata): NewEvent {
    const schemaVersion = this.decider.events.schemaVersionOf(event.type);
    return { type: event.type, data: event.data, metadata: schemaVersion === 1 ? metadata : { ...metadata, schemaVersion } };
  }

  private fold(state: State, events: readonly Event[]): State {
    let folded = state;
    for (const event of events) folded = this.decider.evolve(folded, event);
    return folded;
  }

  private async catchUp(id: string): Promise<Loaded<State>> {
    let loaded = this.cache.get(id);
    if (loaded === undefined) {
      const snapshot = await this.snapshots?.load(id);
      loaded = snapshot
        ? { state: snapshot.state, revision: snapshot.revision, snapshotRevision: snapshot.revision }
        : { state: this.decider.initialState(), revision: -1, snapshotRevision: -1 };
      this.remember(id, loaded);
    } else {
      // Most recently used last: a Map keeps insertion order, so re-inserting marks it fresh.
      this.cache.delete(id);
      this.cache.set(id, loaded);
    }
    try {
      for await (const stored of this.store.readStream(this.options.streamOf(id), { fromRevision: loaded.revision + 1 })) {
        const event = this.decider.events.read(stored);
        if (event !== null) loaded.state = this.decider.evolve(loaded.state, event);
        loaded.revision = stored.revision;
      }
    } catch (error) {
      // A half-read stream would leave a state that matches no revision.
      this.cache.delete(id);
      throw error;
    }
    if (this.maxCachedStates === 0) this.cache.delete(id);
    return loaded;
  }

  private async snapshotIfDue(id: string, loaded: Loaded<State>): Promise<void> {
    if (this.snapshots === null || loaded.revision - loaded.snapshotRevision < this.snapshots.every) return;
    if (await this.snapshots.save(id, loaded.state, loaded.revision)) loaded.snapshotRevision = loaded.revision;
  }

  private remember(id: string, loaded: Loaded<State>): void {
    this.cache.set(id, loaded);
    while (this.cache.size > Math.max(1, this.maxCachedStates)) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}
