/**
 * A set of execution indexes, taken out lowest first: a bit per index (a million-item batch costs
 * 125 KB however many of its executions are in it), grown on demand, with a cursor below which no
 * index is set, so taking them in order is linear over the whole batch.
 */
export class IndexSet {
  private bits = new Uint8Array(0);
  private count = 0;
  /** No index below this is in the set. */
  private cursor = 0;

  get size(): number {
    return this.count;
  }

  has(index: number): boolean {
    const byte = index >>> 3;
    return byte < this.bits.length && (this.bits[byte]! & (1 << (index & 7))) !== 0;
  }

  add(index: number): void {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`not an execution index: ${index}`);
    const byte = index >>> 3;
    if (byte >= this.bits.length) this.grow(byte + 1);
    const bit = 1 << (index & 7);
    if ((this.bits[byte]! & bit) !== 0) return;
    this.bits[byte]! |= bit;
    this.count++;
    if (index < this.cursor) this.cursor = index;
  }

  /** Takes out up to `limit` indexes, lowest first. */
  take(limit: number): number[] {
    const taken: number[] = [];
    for (let index = this.cursor; taken.length < limit && this.count - taken.length > 0 && index >>> 3 < this.bits.length; index++) {
      const byte = index >>> 3;
      if (this.bits[byte] === 0) {
        index = byte * 8 + 7; // a whole empty byte at once
        continue;
      }
      if ((this.bits[byte]! & (1 << (index & 7))) === 0) continue;
      this.bits[byte]! &= ~(1 << (index & 7));
      taken.push(index);
      this.cursor = index + 1;
    }
    this.count -= taken.length;
    if (this.count === 0) this.cursor = 0;
    return taken;
  }

  private grow(bytes: number): void {
    const grown = new Uint8Array(Math.max(bytes, this.bits.length * 2, 64));
    grown.set(this.bits);
    this.bits = grown;
  }
}
