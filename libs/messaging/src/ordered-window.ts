/** Finishes a deferred message: 'done' lets the commit pass it; 'failed' never does, so it is delivered again after a restart. */
export type Settle = (outcome: 'done' | 'failed') => void;

/**
 * Takes over a message's completion: from then on the work's returned promise no longer decides the
 * message, the returned settle function does. Calling it again returns the same settle function.
 */
export type Defer = () => Settle;

interface Entry {
  readonly position: bigint;
  done: boolean;
}

/**
 * Runs message handlers concurrently while committing progress in order: the committed position
 * only moves past a message once it and every message before it are done. A slow message holds
 * back the commit, not the work behind it (up to `capacity` messages in flight). Messages that
 * share a key run one after another, in arrival order. Work is expected to handle its own errors
 * (retries, dead letters); work that still fails is never committed past.
 *
 * Work may defer its message (`defer`): it then returns at once and settles the message later, so a
 * message waiting for a long time (an execution in the executor's queue) keeps only its entry and
 * its settle function here, not a chain of pending promises. A deferred message still counts against
 * the capacity until it is settled, and the next message of its key waits for its settlement.
 */
export class OrderedWindow {
  /** Positions not yet committed past, from `head` on: a moving head, since shift() is O(n) on a window of 1,000,000. */
  private entries: Entry[] = [];
  private head = 0;
  private readonly keyTails = new Map<string, Promise<void>>();
  private readonly capacityWaiters: (() => void)[] = [];
  private inFlight = 0;
  private committed: bigint | null = null;

  constructor(
    private readonly capacity: number,
    private readonly onCommit: (position: bigint) => void,
  ) {}

  /**
   * Starts `work` once there is room; resolves when it has started, not when it is done. `onDone`
   * runs once the message is done (its work resolved without deferring, or it was settled 'done'),
   * before the commit may pass it; if it throws, the message counts as failed.
   */
  async push(position: bigint, key: string | null, work: (defer: Defer) => Promise<void>, onDone?: () => void): Promise<void> {
    while (this.inFlight >= this.capacity) await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    const entry: Entry = { position, done: false };
    this.entries.push(entry);
    this.inFlight++;
    let keyDone: (() => void) | undefined;
    const settled = key === null ? undefined : new Promise<void>((resolve) => (keyDone = resolve));
    const completion = this.completionOf(entry, onDone, keyDone);
    const previous = key === null ? undefined : this.keyTails.get(key);
    void (previous ?? Promise.resolve())
      .then(() => work(completion.defer))
      .then(
        () => completion.workEnded('done'),
        // Work that failed stays undone: the commit never passes it, so it is delivered again after a restart.
        () => completion.workEnded('failed'),
      );
    if (key !== null && settled !== undefined) {
      this.keyTails.set(key, settled);
      void settled.then(() => {
        if (this.keyTails.get(key) === settled) this.keyTails.delete(key);
      });
    }
  }

  /** A position with no work (events the filter skipped): committed once everything before it is. */
  mark(position: bigint): void {
    this.entries.push({ position, done: true });
    this.advance();
  }

  /** Resolves when nothing is in flight, deferred messages included. */
  async drain(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
  }

  /**
   * How one entry ends. Its own scope, apart from push's: the settle function of a deferred message
   * outlives the work, and must keep only what it needs (not the work and the message it closes over).
   */
  private completionOf(
    entry: Entry,
    onDone: (() => void) | undefined,
    keyDone: (() => void) | undefined,
  ): { readonly defer: Defer; readonly workEnded: Settle } {
    let finished = false;
    let settle: Settle | null = null;
    const finish: Settle = (outcome) => {
      if (finished) return;
      finished = true;
      let done = outcome === 'done';
      if (done && onDone !== undefined) {
        try {
          onDone();
        } catch {
          done = false;
        }
      }
      entry.done = done;
      this.inFlight--;
      keyDone?.();
      for (const wake of this.capacityWaiters.splice(0)) wake();
      this.advance();
    };
    return {
      defer: () => (settle ??= finish),
      // Once deferred, the work's own end decides nothing.
      workEnded: (outcome) => {
        if (settle === null) finish(outcome);
      },
    };
  }

  private advance(): void {
    let moved: bigint | null = null;
    while (this.head < this.entries.length && this.entries[this.head]!.done) moved = this.entries[this.head++]!.position;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    if (moved !== null && (this.committed === null || moved > this.committed)) {
      this.committed = moved;
      this.onCommit(moved);
    }
  }
}
