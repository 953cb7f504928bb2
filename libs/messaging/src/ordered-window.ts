/**
 * Runs message handlers concurrently while committing progress in order: the committed position
 * only moves past a message once it and every message before it are done. A slow message holds
 * back the commit, not the work behind it (up to `capacity` messages in flight). Messages that
 * share a key run one after another, in arrival order. Work is expected to handle its own errors
 * (retries, dead letters); work that still fails is never committed past.
 */
export class OrderedWindow {
  /** Positions not yet committed past, from `head` on: a moving head, since shift() is O(n) on a window of 1,000,000. */
  private entries: { position: bigint; done: boolean }[] = [];
  private head = 0;
  private readonly keyTails = new Map<string, Promise<void>>();
  private readonly capacityWaiters: (() => void)[] = [];
  private inFlight = 0;
  private committed: bigint | null = null;

  constructor(
    private readonly capacity: number,
    private readonly onCommit: (position: bigint) => void,
  ) {}

  /** Starts `work` once there is room; resolves when it has started, not when it is done. */
  async push(position: bigint, key: string | null, work: () => Promise<void>): Promise<void> {
    while (this.inFlight >= this.capacity) await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    const entry = { position, done: false };
    this.entries.push(entry);
    this.inFlight++;
    const previous = key === null ? undefined : this.keyTails.get(key);
    const run = (previous ?? Promise.resolve()).then(work).then(
      () => void (entry.done = true),
      // Work that failed stays undone: the commit never passes it, so it is delivered again after a restart.
      () => undefined,
    );
    void run.finally(() => {
      this.inFlight--;
      for (const wake of this.capacityWaiters.splice(0)) wake();
      this.advance();
    });
    if (key !== null) {
      const tail = run;
      this.keyTails.set(key, tail);
      void tail.then(() => {
        if (this.keyTails.get(key) === tail) this.keyTails.delete(key);
      });
    }
  }

  /** A position with no work (events the filter skipped): committed once everything before it is. */
  mark(position: bigint): void {
    this.entries.push({ position, done: true });
    this.advance();
  }

  /** Resolves when nothing is in flight. */
  async drain(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
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
