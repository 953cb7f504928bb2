import {
  DomainError,
  decide,
  evolve,
  fromBatchSnapshot,
  initialBatchState,
  isBatch,
  isBatchEvent,
  toBatchSnapshot,
  type BatchCommand,
  type BatchEvent,
  type BatchState,
} from '@flotilla/domain';
import { randomUUID } from 'node:crypto';
import { decodeBatchSnapshot, encodeBatchSnapshot } from './batch-snapshot';
import { WrongExpectedRevisionError, streamName, type EventMetadata, type EventStore, type GlobalPosition } from '@flotilla/event-store';

export const batchStream = (batchId: string): string => streamName('batch', batchId);
export const batchSnapshotStream = (batchId: string): string => streamName('batchsnapshot', batchId);

/** A snapshot is taken after this many events since the last one. */
export const SNAPSHOT_EVERY = 20_000;
/** Base64 characters per snapshot event: far below EventStoreDB's 1 MiB append limit. */
const SNAPSHOT_PART_CHARS = 512 * 1024;

interface Loaded {
  state: BatchState;
  /** Revision of the last event folded into `state`; -1 for a stream that does not exist. */
  revision: number;
  /** Revision of the newest snapshot, -1 when there is none. */
  snapshotRevision: number;
}

interface SnapshotPart {
  readonly batchId: string;
  readonly snapshotId: string;
  readonly revision: number;
  readonly part: number;
  readonly parts: number;
  readonly payload: string;
}

export interface HandleResult {
  readonly events: readonly BatchEvent[];
  readonly state: BatchState;
  /** Global position of the last appended event; null when the command produced no events. */
  readonly position: GlobalPosition | null;
}

export interface HandleAllResult extends HandleResult {
  /** For each command, in order: null when it was decided, else the domain error that refused it. */
  readonly errors: readonly (DomainError | null)[];
}

/**
 * Runs batch commands against the event store: read the stream, fold, decide, append with the
 * revision that was read. A concurrent append makes the append fail; the stream is read again from
 * where it was and the command decided again, so a decision is always made on the latest state.
 * This is what makes pause and cancel strict: a trigger decided before a pause cannot be appended
 * after it.
 *
 * States are cached per batch and only the new events are read on each command, so a
 * million-item batch is folded once, not on every command. A snapshot of the state is written to
 * `batchsnapshot-<id>` every SNAPSHOT_EVERY events, so a cold load reads the newest snapshot and
 * the events after it, not the whole stream (docs/adr/0001).
 */
export class BatchRepository {
  private readonly cache = new Map<string, Loaded>();
  /** Commands on one batch run one at a time in this process; other processes are kept out by the expected revision. */
  private readonly locks = new KeyedLock();

  constructor(
    private readonly store: EventStore,
    private readonly options: {
      maxCachedBatches?: number;
      maxAttempts?: number;
      /** Events between snapshots; 0 turns snapshots off (neither read nor written). */
      snapshotEvery?: number;
    } = {},
  ) {}

  /** The current state of a batch (initial when it does not exist). */
  async load(batchId: string): Promise<BatchState> {
    return this.locks.run(batchId, async () => (await this.catchUp(batchId)).state);
  }

  /**
   * Decides `command` (or the command built from the current state) and appends its events.
   * Domain errors are thrown as they are; concurrency conflicts are retried.
   */
  handle(batchId: string, command: BatchCommand | ((state: BatchState) => BatchCommand), metadata: EventMetadata = {}): Promise<HandleResult> {
    return this.locks.run(batchId, () => this.decideAndAppend(batchId, command, metadata));
  }

  private async decideAndAppend(
    batchId: string,
    command: BatchCommand | ((state: BatchState) => BatchCommand),
    metadata: EventMetadata,
  ): Promise<HandleResult> {
    const maxAttempts = this.options.maxAttempts ?? 20;
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.catchUp(batchId);
      const events = decide(typeof command === 'function' ? command(loaded.state) : command, loaded.state);
      if (events.length === 0) return { events, state: loaded.state, position: null };
      try {
        const result = await this.store.appendToStream(
          batchStream(batchId),
          events.map((event) => ({ type: event.type, data: event.data, metadata })),
          { expectedRevision: loaded.revision < 0 ? 'no_stream' : loaded.revision },
        );
        // Fold our own events in: the cached state is then current without reading them back.
        loaded.state = events.reduce(evolve, loaded.state);
        loaded.revision = result.nextExpectedRevision;
        if (this.snapshotDue(loaded)) await this.snapshot(batchId, loaded);
        return { events, state: loaded.state, position: result.position };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw error;
      }
    }
  }

  /**
   * Decides several commands in turn and appends all their events at once (the executor records
   * outcomes this way: one append per group instead of one per execution). A command refused by a
   * domain rule is skipped and its error returned at its place in `errors`; the others go ahead.
   */
  handleAll(batchId: string, commands: readonly BatchCommand[], metadata: EventMetadata = {}): Promise<HandleAllResult> {
    return this.locks.run(batchId, async () => {
      const maxAttempts = this.options.maxAttempts ?? 20;
      for (let attempt = 1; ; attempt++) {
        const loaded = await this.catchUp(batchId);
        // Deciding the next command needs the previous one's events folded in, and folding updates
        // the cached state in place: if the append fails, that state is dropped and read again.
        const events: BatchEvent[] = [];
        const errors: (DomainError | null)[] = [];
        let state = loaded.state;
        for (const command of commands) {
          try {
            const decided = decide(command, state);
            state = decided.reduce(evolve, state);
            events.push(...decided);
            errors.push(null);
          } catch (error) {
            if (!(error instanceof DomainError)) {
              this.cache.delete(batchId);
              throw error;
            }
            errors.push(error);
          }
        }
        if (events.length === 0) return { events, errors, state, position: null };
        try {
          const result = await this.store.appendToStream(
            batchStream(batchId),
            events.map((event) => ({ type: event.type, data: event.data, metadata })),
            { expectedRevision: loaded.revision < 0 ? 'no_stream' : loaded.revision },
          );
          loaded.state = state;
          loaded.revision = result.nextExpectedRevision;
          if (this.snapshotDue(loaded)) await this.snapshot(batchId, loaded);
          return { events, errors, state, position: result.position };
        } catch (error) {
          this.cache.delete(batchId);
          if (!(error instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw error;
        }
      }
    });
  }

  /** Forgets a cached batch (the next command reads it from the store). */
  evict(batchId: string): void {
    this.cache.delete(batchId);
  }

  private async catchUp(batchId: string): Promise<Loaded> {
    let loaded = this.cache.get(batchId);
    if (loaded === undefined) {
      loaded = (this.snapshotEvery > 0 ? await this.loadSnapshot(batchId) : null) ?? { state: initialBatchState(), revision: -1, snapshotRevision: -1 };
      this.remember(batchId, loaded);
    } else {
      // Most recently used last: Map keeps insertion order, so re-inserting marks it fresh.
      this.cache.delete(batchId);
      this.cache.set(batchId, loaded);
    }
    try {
      for await (const event of this.store.readStream(batchStream(batchId), { fromRevision: loaded.revision + 1 })) {
        if (isBatchEvent(event)) loaded.state = evolve(loaded.state, event as unknown as BatchEvent);
        loaded.revision = event.revision;
      }
    } catch (error) {
      // A half-read stream would leave a state that matches no revision.
      this.cache.delete(batchId);
      throw error;
    }
    return loaded;
  }

  private get snapshotEvery(): number {
    return this.options.snapshotEvery ?? SNAPSHOT_EVERY;
  }

  private snapshotDue(loaded: Loaded): boolean {
    return this.snapshotEvery > 0 && loaded.revision - loaded.snapshotRevision >= this.snapshotEvery;
  }

  /** Snapshots only speed up loading: a failure to write one is not the command's failure. */
  private async snapshot(batchId: string, loaded: Loaded): Promise<void> {
    if (!isBatch(loaded.state)) return;
    const payload = encodeBatchSnapshot(toBatchSnapshot(loaded.state)).toString('base64');
    const snapshotId = randomUUID();
    const parts = Math.max(1, Math.ceil(payload.length / SNAPSHOT_PART_CHARS));
    const revision = loaded.revision;
    try {
      for (let part = 0; part < parts; part++) {
        const data: SnapshotPart = {
          batchId,
          snapshotId,
          revision,
          part,
          parts,
          payload: payload.slice(part * SNAPSHOT_PART_CHARS, (part + 1) * SNAPSHOT_PART_CHARS),
        };
        await this.store.appendToStream(batchSnapshotStream(batchId), [{ type: 'BatchSnapshotTaken', data }]);
      }
      loaded.snapshotRevision = revision;
    } catch {
      // The next command tries again; loading falls back to an older snapshot or the whole stream.
    }
  }

  /** The newest complete snapshot, or null. A snapshot cut short by a crash is skipped. */
  private async loadSnapshot(batchId: string): Promise<Loaded | null> {
    const parts = new Map<number, string>();
    let current: string | null = null;
    for await (const event of this.store.readStream(batchSnapshotStream(batchId), { direction: 'backwards' })) {
      const data = event.data as SnapshotPart;
      if (data.snapshotId !== current) {
        current = data.snapshotId;
        parts.clear();
      }
      parts.set(data.part, data.payload);
      if (parts.size === data.parts) {
        const payload = Array.from({ length: data.parts }, (_, part) => parts.get(part) ?? '').join('');
        const state = fromBatchSnapshot(decodeBatchSnapshot(Buffer.from(payload, 'base64')));
        return { state, revision: data.revision, snapshotRevision: data.revision };
      }
    }
    return null;
  }

  private remember(batchId: string, loaded: Loaded): void {
    this.cache.set(batchId, loaded);
    const max = this.options.maxCachedBatches ?? 1000;
    while (this.cache.size > max) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

/** Runs async work one at a time per key. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
