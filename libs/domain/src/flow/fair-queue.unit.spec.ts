import fc from 'fast-check';
import { FairQueue, type FairTicket } from './fair-queue';

interface Entry {
  readonly batchId: string;
  readonly priority: number;
  readonly workflowId: string;
  readonly seq: number;
}

type Op =
  | { readonly kind: 'add'; readonly batch: number; readonly priority: number }
  | { readonly kind: 'take'; readonly blocked: readonly number[] }
  | { readonly kind: 'cancel'; readonly pick: number };

/** Batches 0..7; batch b belongs to workflow b % 3, and always has the same priority unless told otherwise. */
const workflowOf = (batch: number): string => `w${batch % 3}`;
const opArb = (priorities: fc.Arbitrary<number>): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('add' as const), batch: fc.nat(7), priority: priorities }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('take' as const), blocked: fc.subarray([0, 1, 2]) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  );

/** The same rules in the plainest form: arrays scanned from the front. */
class Model {
  private readonly lines = new Map<number, { key: string; entries: Entry[] }[]>();
  add(entry: Entry): void {
    const line = this.lines.get(entry.priority) ?? [];
    this.lines.set(entry.priority, line);
    const lane = line.find((candidate) => candidate.key === entry.batchId);
    if (lane === undefined) line.push({ key: entry.batchId, entries: [entry] });
    else lane.entries.push(entry);
  }
  take(canGo: (entry: Entry) => boolean): Entry | undefined {
    for (const priority of [...this.lines.keys()].sort((a, b) => a - b)) {
      const line = this.lines.get(priority)!;
      const at = line.findIndex((lane) => canGo(lane.entries[0]!));
      if (at < 0) continue;
      const [lane] = line.splice(at, 1);
      const entry = lane!.entries.shift()!;
      if (lane!.entries.length > 0) line.push(lane!);
      if (line.length === 0) this.lines.delete(priority);
      return entry;
    }
    return undefined;
  }
  cancel(entry: Entry): void {
    const line = this.lines.get(entry.priority)!;
    const at = line.findIndex((lane) => lane.key === entry.batchId);
    const lane = line[at]!;
    lane.entries.splice(lane.entries.indexOf(entry), 1);
    if (lane.entries.length === 0) line.splice(at, 1);
    if (line.length === 0) this.lines.delete(entry.priority);
  }
  waiting(): Entry[] {
    return [...this.lines.values()].flatMap((line) => line.flatMap((lane) => lane.entries));
  }
}

const run = (ops: readonly Op[], samePriorityPerBatch: boolean) => {
  const queue = new FairQueue<Entry>();
  const model = new Model();
  const tickets = new Map<Entry, FairTicket>();
  const taken: Entry[] = [];
  const batchPriority = new Map<number, number>();
  let seq = 0;
  for (const op of ops) {
    if (op.kind === 'add') {
      const priority = samePriorityPerBatch ? (batchPriority.get(op.batch) ?? op.priority) : op.priority;
      batchPriority.set(op.batch, priority);
      const entry: Entry = { batchId: `b${op.batch}`, priority, workflowId: workflowOf(op.batch), seq: seq++ };
      tickets.set(entry, queue.add(entry));
      model.add(entry);
    } else if (op.kind === 'take') {
      const blocked = new Set(op.blocked.map((workflow) => `w${workflow}`));
      const canGo = (entry: Entry): boolean => !blocked.has(entry.workflowId);
      const waitingBefore = model.waiting();
      const got = queue.take(canGo);
      expect(got).toBe(model.take(canGo));
      if (got !== undefined) {
        taken.push(got);
        tickets.delete(got);
        // Priority: nothing that could go had a lower number.
        const eligible = waitingBefore.filter(canGo);
        expect(Math.min(...eligible.map((entry) => entry.priority))).toBe(got.priority);
      } else expect(waitingBefore.filter(canGo)).toEqual([]);
    } else {
      const live = [...tickets.keys()];
      if (live.length === 0) continue;
      const entry = live[op.pick % live.length]!;
      expect(queue.cancel(tickets.get(entry)!)).toBe(true);
      expect(queue.cancel(tickets.get(entry)!)).toBe(false);
      tickets.delete(entry);
      model.cancel(entry);
    }
    expect(queue.size).toBe(model.waiting().length);
  }
  return { queue, model, taken };
};

describe('FairQueue', () => {
  it('takes by priority, then batch by batch, first in first out within a batch', () => {
    const queue = new FairQueue<Entry>();
    const add = (batchId: string, priority: number, count: number): void => {
      for (let i = 0; i < count; i++) queue.add({ batchId, priority, workflowId: 'w', seq: i });
    };
    add('big', 50, 5);
    add('small', 50, 2);
    add('urgent', 10, 2);
    const order: string[] = [];
    for (let entry = queue.take(); entry !== undefined; entry = queue.take()) order.push(`${entry.batchId}${entry.seq}`);
    expect(order).toEqual(['urgent0', 'urgent1', 'big0', 'small0', 'big1', 'small1', 'big2', 'big3', 'big4']);
  });

  it('passes over entries that cannot go without losing their place', () => {
    const queue = new FairQueue<Entry>();
    queue.add({ batchId: 'a', priority: 50, workflowId: 'held', seq: 0 });
    queue.add({ batchId: 'b', priority: 50, workflowId: 'free', seq: 0 });
    queue.add({ batchId: 'b', priority: 50, workflowId: 'free', seq: 1 });
    expect(queue.peek((entry) => entry.workflowId !== 'held')?.batchId).toBe('b');
    expect(queue.peek()?.batchId).toBe('a');
    expect(queue.take((entry) => entry.workflowId !== 'held')?.batchId).toBe('b');
    // a was passed over, not sent to the back: it goes before b's next entry.
    expect(queue.take()?.batchId).toBe('a');
    expect(queue.take()?.batchId).toBe('b');
    expect(queue.take()).toBeUndefined();
  });

  it('behaves as the plain model over random arrivals, takes, refusals and cancels', () => {
    fc.assert(
      fc.property(fc.array(opArb(fc.integer({ min: 1, max: 4 })), { maxLength: 300 }), (ops) => {
        run(ops, false);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the order within a batch, and drains everything once nothing is refused', () => {
    fc.assert(
      fc.property(fc.array(opArb(fc.integer({ min: 1, max: 3 })), { maxLength: 300 }), (ops) => {
        const { queue, model, taken } = run(ops, true);
        const left = model.waiting().length;
        for (let i = 0; i < left; i++) taken.push(queue.take()!);
        expect(queue.take()).toBeUndefined();
        expect(queue.size).toBe(0);
        const byBatch = new Map<string, number[]>();
        for (const entry of taken) byBatch.set(entry.batchId, [...(byBatch.get(entry.batchId) ?? []), entry.seq]);
        for (const seqs of byBatch.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

  it('bounds the wait at equal priority: the k-th entry of a batch leaves within k rounds of the batches waiting', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(11), fc.integer({ min: 1, max: 20 })), { maxLength: 20 }),
        (sizes, lateArrivals) => {
          const queue = new FairQueue<Entry>();
          for (const [batch, size] of sizes.entries())
            for (let seq = 0; seq < size; seq++) queue.add({ batchId: `b${batch}`, priority: 50, workflowId: 'w', seq });
          const batches = sizes.length + lateArrivals.length;
          const leftAt = new Map<string, number>();
          let takes = 0;
          let late = 0;
          while (queue.size > 0) {
            const entry = queue.take()!;
            takes++;
            leftAt.set(`${entry.batchId}/${entry.seq}`, takes);
            // New batches keep arriving while it drains; they must not push the waiting ones back without bound.
            if (takes % 7 === 0 && late < lateArrivals.length) {
              const [, size] = lateArrivals[late]!;
              for (let seq = 0; seq < size; seq++) queue.add({ batchId: `late${late}`, priority: 50, workflowId: 'w', seq });
              late++;
            }
          }
          for (const [batch, size] of sizes.entries())
            for (let seq = 0; seq < size; seq++) expect(leftAt.get(`b${batch}/${seq}`)!).toBeLessThanOrEqual((seq + 1) * batches);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('holds 1,000,000 waiting entries and takes them in turns', () => {
    const queue = new FairQueue<Entry>();
    for (let seq = 0; seq < 1_000_000; seq++) queue.add({ batchId: 'huge', priority: 50, workflowId: 'w', seq });
    for (let seq = 0; seq < 10; seq++) queue.add({ batchId: 'small', priority: 50, workflowId: 'w', seq });
    const first20 = Array.from({ length: 20 }, () => queue.take()!.batchId);
    expect(first20.filter((batchId) => batchId === 'small')).toHaveLength(10);
    let drained = 20;
    while (queue.take() !== undefined) drained++;
    expect(drained).toBe(1_000_010);
  });
});
