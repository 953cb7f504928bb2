import { randomUUID } from 'node:crypto';
import type { EventStore, StreamName } from '@flotilla/event-store';

/** How a command handler snapshots its states. */
export interface SnapshotOptions<State> {
  /** Events between snapshots; 0 turns snapshots off (neither read nor written). */
  readonly every: number;
  readonly stream: (id: string) => StreamName;
  /** The type of the snapshot events, e.g. `BatchSnapshotTaken`. */
  readonly eventType: string;
  /** The state as bytes, or null when there is nothing worth a snapshot (e.g. the initial state). */
  readonly encode: (state: State) => Buffer | null;
  readonly decode: (payload: Buffer) => State;
}

/** Base64 characters per snapshot event: far below EventStoreDB's 1 MiB append limit. */
const SNAPSHOT_PART_CHARS = 512 * 1024;

interface SnapshotPart {
  readonly snapshotId: string;
  /** The revision of the state's stream that the snapshot holds. */
  readonly revision: number;
  readonly part: number;
  readonly parts: number;
  readonly payload: string;
  readonly [key: string]: unknown;
}

/**
 * Snapshots on their own stream, in parts of bounded size (a large state spans several events). A
 * snapshot cut short by a crash is skipped on load: the one before it, or a full replay, is used.
 */
export class SnapshotStore<State> {
  readonly every: number;

  constructor(
    private readonly store: EventStore,
    private readonly options: SnapshotOptions<State>,
  ) {
    this.every = options.every;
  }

  /** Snapshots only speed up loading: a failure to write one is not the command's failure. Returns whether it was written. */
  async save(id: string, state: State, revision: number): Promise<boolean> {
    const encoded = this.options.encode(state);
    if (encoded === null) return false;
    const payload = encoded.toString('base64');
    const snapshotId = randomUUID();
    const parts = Math.max(1, Math.ceil(payload.length / SNAPSHOT_PART_CHARS));
    try {
      for (let part = 0; part < parts; part++) {
        const data: SnapshotPart = {
          id,
          snapshotId,
          revision,
          part,
          parts,
          payload: payload.slice(part * SNAPSHOT_PART_CHARS, (part + 1) * SNAPSHOT_PART_CHARS),
        };
        await this.store.appendToStream(this.options.stream(id), [{ type: this.options.eventType, data }]);
      }
      return true;
    } catch {
      // The next command tries again; loading falls back to an older snapshot or the whole stream.
      return false;
    }
  }

  /** The newest complete snapshot, or null. */
  async load(id: string): Promise<{ state: State; revision: number } | null> {
    const parts = new Map<number, string>();
    let current: string | null = null;
    for await (const event of this.store.readStream(this.options.stream(id), { direction: 'backwards' })) {
      const data = event.data as SnapshotPart;
      if (data.snapshotId !== current) {
        current = data.snapshotId;
        parts.clear();
      }
      parts.set(data.part, data.payload);
      if (parts.size === data.parts) {
        const payload = Array.from({ length: data.parts }, (_, part) => parts.get(part) ?? '').join('');
        return { state: this.options.decode(Buffer.from(payload, 'base64')), revision: data.revision };
      }
    }
    return null;
  }
}
