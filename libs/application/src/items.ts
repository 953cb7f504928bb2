import {
  MAX_ITEM_BYTES,
  batchItemsEvents,
  jsonBytes,
  type BatchItem,
  type BatchItemsChunkRecorded,
  type BatchItemsDiscarded,
  type ItemsLocation,
} from '@flotilla/domain';
import { streamName, type EventStore } from '@flotilla/event-store';

export const itemsStream = (batchId: string): string => streamName('batchitems', batchId);

/** Chunks stay far below EventStoreDB's 1 MiB append limit whatever the items hold. */
export const MAX_CHUNK_ITEMS = 1000;
export const MAX_CHUNK_BYTES = 256 * 1024;
/**
 * Full chunks appended together in one transaction: each commit of the SQLite store is an fsync and
 * a WAL write, and at one commit per chunk the commits cost more than the rows (a 1,000,000-row
 * CSV is 1,000 chunks). Three chunks of at most 256 KiB stay under EventStoreDB's 1 MiB append.
 */
export const CHUNKS_PER_APPEND = 3;

/**
 * Writes a batch's items to `batchitems-<batchId>` as they arrive, in chunk events bounded in count
 * and bytes, so an upload of any size is stored in constant memory. Chunks are appended up to
 * CHUNKS_PER_APPEND at a time, each append with the exact expected revision: a second writer of the
 * same batch id fails instead of interleaving. Everything is appended by the time `finish` returns;
 * an intake that fails after that, or before it with chunks appended, ends the stream with `discard`.
 */
export class ItemsWriter {
  private readonly chunkStarts: number[] = [];
  /** Full chunks not appended yet. */
  private full: BatchItemsChunkRecorded[] = [];
  private pending: BatchItem[] = [];
  private pendingBytes = 0;
  private count = 0;

  constructor(
    private readonly store: EventStore,
    private readonly batchId: string,
  ) {}

  get total(): number {
    return this.count;
  }

  /**
   * Adds one item; appends a chunk when one is full. Returns the item's index. The item rules have
   * refused items over MAX_ITEM_BYTES already; this is the guard of the chunk's own bound.
   */
  async add(item: BatchItem): Promise<number> {
    const bytes = jsonBytes(item);
    if (bytes > MAX_ITEM_BYTES) throw new ItemTooLarge(this.count, bytes);
    if (this.pending.length >= MAX_CHUNK_ITEMS || this.pendingBytes + bytes > MAX_CHUNK_BYTES) {
      this.closeChunk();
      if (this.full.length >= CHUNKS_PER_APPEND) await this.append();
    }
    this.pending.push(item);
    this.pendingBytes += bytes;
    return this.count++;
  }

  /** Appends what is left and says where the items are. */
  async finish(): Promise<ItemsLocation> {
    this.closeChunk();
    await this.append();
    return { stream: itemsStream(this.batchId), chunkStarts: [...this.chunkStarts] };
  }

  /**
   * Ends the stream with BatchItemsDiscarded when chunks were appended (the ones still in memory are
   * dropped), so that the read models drop the rows those chunks made.
   */
  async discard(reason: string, now: Date): Promise<void> {
    this.pending = [];
    this.full = [];
    const appended = this.chunkStarts.length;
    if (appended === 0) return;
    await discardItems(this.store, this.batchId, appended - 1, reason, now);
  }

  /** The pending items become a full chunk, to be appended with the next ones. */
  private closeChunk(): void {
    if (this.pending.length === 0) return;
    const fromIndex = this.count - this.pending.length;
    this.full.push({ type: 'BatchItemsChunkRecorded', data: { batchId: this.batchId, fromIndex, items: this.pending } });
    this.pending = [];
    this.pendingBytes = 0;
  }

  private async append(): Promise<void> {
    const chunks = this.full;
    if (chunks.length === 0) return;
    const revision = this.chunkStarts.length;
    await this.store.appendToStream(itemsStream(this.batchId), chunks, { expectedRevision: revision === 0 ? 'no_stream' : revision - 1 });
    for (const chunk of chunks) this.chunkStarts.push(chunk.data.fromIndex);
    this.full = [];
  }
}

/**
 * Ends the items stream of a batch that was never created with BatchItemsDiscarded, at `revision`
 * (its last chunk's): an append made since then fails the discard instead of following it.
 * `reason` is the kind of failure (an error's name, `abandoned`), never a message quoting an input.
 */
export const discardItems = async (store: EventStore, batchId: string, revision: number, reason: string, now: Date): Promise<void> => {
  const discarded: BatchItemsDiscarded = { type: 'BatchItemsDiscarded', data: { batchId, reason, occurredAt: now.toISOString() } };
  await store.appendToStream(itemsStream(batchId), [discarded], { expectedRevision: revision });
};

export class ItemTooLarge extends Error {
  constructor(
    readonly index: number,
    readonly bytes: number,
  ) {
    super(`Item ${index + 1} is ${bytes} bytes; an item may hold at most ${MAX_ITEM_BYTES} bytes`);
    this.name = 'ItemTooLarge';
  }
}

/**
 * Reads items by index, keeping recently used chunks in memory (executions of a wave share chunks).
 * A chunk is cached as its load, from the moment it is first asked for: a wave's executions all ask
 * at once, and caching only the loaded items had each of them read and decode the whole chunk
 * (a thousand items) before the first read had returned.
 */
export class ItemsReader {
  private readonly chunks = new Map<string, Promise<BatchItem[]>>();

  constructor(
    private readonly store: EventStore,
    private readonly maxCachedChunks = 64,
  ) {}

  async get(location: ItemsLocation, index: number): Promise<BatchItem> {
    const chunk = chunkOf(location, index);
    const items = await this.chunk(location, chunk);
    const item = items[index - (location.chunkStarts[chunk] ?? 0)];
    if (item === undefined) throw new Error(`Item ${index} is missing from ${location.stream}`);
    return item;
  }

  private chunk(location: ItemsLocation, chunk: number): Promise<BatchItem[]> {
    const key = `${location.stream}#${chunk}`;
    const cached = this.chunks.get(key);
    if (cached !== undefined) return cached;
    const load = this.read(location, chunk);
    this.chunks.set(key, load);
    // A failed read is not kept: the next caller tries again.
    load.catch(() => {
      if (this.chunks.get(key) === load) this.chunks.delete(key);
    });
    while (this.chunks.size > this.maxCachedChunks) {
      const oldest = this.chunks.keys().next().value;
      if (oldest === undefined) break;
      this.chunks.delete(oldest);
    }
    return load;
  }

  private async read(location: ItemsLocation, chunk: number): Promise<BatchItem[]> {
    for await (const stored of this.store.readStream(location.stream, { fromRevision: chunk, maxCount: 1 })) {
      const event = batchItemsEvents.read(stored);
      if (event?.type !== 'BatchItemsChunkRecorded') break;
      return [...event.data.items];
    }
    throw new Error(`Chunk ${chunk} of ${location.stream} is missing`);
  }
}

/** The chunk holding `index`: the last chunk starting at or before it (binary search). */
export const chunkOf = (location: ItemsLocation, index: number): number => {
  let low = 0;
  let high = location.chunkStarts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if ((location.chunkStarts[middle] ?? 0) <= index) low = middle;
    else high = middle - 1;
  }
  return low;
};
