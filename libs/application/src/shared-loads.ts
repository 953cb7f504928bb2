/**
 * Shares loads of the same key between concurrent callers, without handing anyone a stale result:
 * a caller gets a load that starts after it asked. Loads of one key run one at a time; everyone who
 * asks while one is running shares the single load queued behind it. Under load this turns one read
 * per caller into about one per round trip of the store.
 */
export class SharedLoads<T> {
  /** The load of each key that has not started yet: new callers join it. */
  private readonly queued = new Map<string, Promise<T>>();
  /** The newest load of each key: the next one starts after it. */
  private readonly tails = new Map<string, Promise<T>>();

  constructor(private readonly loadOf: (key: string) => Promise<T>) {}

  load(key: string): Promise<T> {
    const queued = this.queued.get(key);
    if (queued !== undefined) return queued;
    const previous = this.tails.get(key);
    const load: Promise<T> = (previous === undefined ? Promise.resolve() : previous.then(noop, noop)).then(() => {
      this.queued.delete(key);
      return this.loadOf(key);
    });
    this.queued.set(key, load);
    this.tails.set(key, load);
    const forget = (): void => {
      if (this.tails.get(key) === load) this.tails.delete(key);
    };
    void load.then(forget, forget);
    return load;
  }
}

const noop = (): void => undefined;
