/** What the fair queue orders by; the rest of an entry is the caller's. */
export interface FairEntry {
  /** Entries of one key (a batch) leave in the order they came. */
  readonly batchId: string;
  /** Lower leaves first. */
  readonly priority: number;
}

/** A place in the queue, returned by `add`, to take an entry back out before its turn. */
export interface FairTicket {
  readonly cancelled: boolean;
}

interface Slot<E> {
  readonly entry: E;
  cancelled: boolean;
}

/** The waiting entries of one batch at one priority: a FIFO with a moving head, compacted now and then. */
interface Lane<E> {
  readonly key: string;
  readonly priority: number;
  readonly slots: Slot<E>[];
  head: number;
  /** Entries not cancelled. */
  live: number;
  prev: Lane<E> | null;
  next: Lane<E> | null;
}

/** The lanes of one priority, in the order they are served: a doubly linked list, so moving one to the back is O(1). */
interface Level<E> {
  first: Lane<E> | null;
  last: Lane<E> | null;
}

/**
 * The executor's waiting line: entries leave by priority (lower first), and among equal priority
 * batch by batch in turns (one entry per turn, then that batch goes to the back of the line), first
 * in first out within a batch. So a 10-entry batch waits at most 10 rounds of the batches beside it,
 * never behind the whole of a 1,000,000-entry one.
 *
 * `take` may be told to pass over entries that cannot go now (their workflow is at its limit): it
 * looks at each batch's first entry, and a batch passed over keeps its place at the front of its
 * line, so it goes first as soon as it can. Every operation is O(1) amortised, plus O(batches
 * passed over) for `take` and O(distinct priorities), at most 100, when a priority gets its first
 * entry. Cancelled entries are dropped lazily, when they reach the front of their batch.
 */
export class FairQueue<E extends FairEntry> {
  private readonly levels = new Map<number, Level<E>>();
  /** The priorities that have a level, ascending. */
  private readonly priorities: number[] = [];
  private readonly lanes = new Map<string, Lane<E>>();
  private count = 0;

  /** Entries waiting (not cancelled). */
  get size(): number {
    return this.count;
  }

  add(entry: E): FairTicket {
    const lane = this.laneOf(entry.batchId, entry.priority);
    const slot: Slot<E> = { entry, cancelled: false };
    lane.slots.push(slot);
    lane.live++;
    this.count++;
    return slot;
  }

  /** Takes an entry out before its turn; false when it already left. */
  cancel(ticket: FairTicket): boolean {
    const slot = ticket as Slot<E>;
    if (slot.cancelled) return false;
    slot.cancelled = true;
    const lane = this.lanes.get(laneKey(slot.entry.batchId, slot.entry.priority));
    if (lane === undefined) return false;
    lane.live--;
    this.count--;
    if (lane.live === 0) this.drop(lane);
    else this.skipCancelled(lane);
    return true;
  }

  /** The entry whose turn it is, without taking it; passes over those `canGo` refuses. */
  peek(canGo: (entry: E) => boolean = always): E | undefined {
    const lane = this.find(canGo);
    return lane?.slots[lane.head]!.entry;
  }

  /**
   * Takes the entry whose turn it is among those `canGo` accepts (asked of each batch's first
   * entry, at most once per batch), or undefined when none can go.
   */
  take(canGo: (entry: E) => boolean = always): E | undefined {
    const lane = this.find(canGo);
    if (lane === undefined) return undefined;
    const slot = lane.slots[lane.head]!;
    lane.slots[lane.head] = undefined as unknown as Slot<E>;
    lane.head++;
    slot.cancelled = true; // left: a later cancel of its ticket does nothing
    lane.live--;
    this.count--;
    if (lane.live === 0) this.drop(lane);
    else {
      this.skipCancelled(lane);
      this.toBack(lane);
    }
    return slot.entry;
  }

  private find(canGo: (entry: E) => boolean): Lane<E> | undefined {
    for (const priority of this.priorities) {
      for (let lane = this.levels.get(priority)!.first; lane !== null; lane = lane.next) {
        if (canGo(lane.slots[lane.head]!.entry)) return lane;
      }
    }
    return undefined;
  }

  private laneOf(batchId: string, priority: number): Lane<E> {
    const key = laneKey(batchId, priority);
    const known = this.lanes.get(key);
    if (known !== undefined) return known;
    let level = this.levels.get(priority);
    if (level === undefined) {
      level = { first: null, last: null };
      this.levels.set(priority, level);
      this.priorities.splice(insertionPoint(this.priorities, priority), 0, priority);
    }
    // A new batch joins at the back of its priority's line: those already waiting go first this round.
    const lane: Lane<E> = { key, priority, slots: [], head: 0, live: 0, prev: level.last, next: null };
    if (level.last === null) level.first = lane;
    else level.last.next = lane;
    level.last = lane;
    this.lanes.set(key, lane);
    return lane;
  }

  /** Moves the head past cancelled entries, and compacts the array once the dead front is most of it. */
  private skipCancelled(lane: Lane<E>): void {
    while (lane.slots[lane.head]!.cancelled) {
      lane.slots[lane.head] = undefined as unknown as Slot<E>;
      lane.head++;
    }
    if (lane.head > 1024 && lane.head * 2 > lane.slots.length) {
      lane.slots.splice(0, lane.head);
      lane.head = 0;
    }
  }

  private toBack(lane: Lane<E>): void {
    const level = this.levels.get(lane.priority)!;
    if (level.last === lane) return;
    this.unlink(level, lane);
    lane.prev = level.last;
    lane.next = null;
    level.last!.next = lane;
    level.last = lane;
  }

  private drop(lane: Lane<E>): void {
    const level = this.levels.get(lane.priority)!;
    this.unlink(level, lane);
    this.lanes.delete(lane.key);
    if (level.first === null) {
      this.levels.delete(lane.priority);
      this.priorities.splice(this.priorities.indexOf(lane.priority), 1);
    }
  }

  private unlink(level: Level<E>, lane: Lane<E>): void {
    if (lane.prev === null) level.first = lane.next;
    else lane.prev.next = lane.next;
    if (lane.next === null) level.last = lane.prev;
    else lane.next.prev = lane.prev;
    lane.prev = null;
    lane.next = null;
  }
}

const always = (): boolean => true;

const laneKey = (batchId: string, priority: number): string => `${priority}\u0000${batchId}`;

const insertionPoint = (sorted: readonly number[], value: number): number => {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
};
