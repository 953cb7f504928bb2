import fc from 'fast-check';
import { IndexSet } from './index-set';

describe('IndexSet', () => {
  it('takes indexes out lowest first, each once, whatever order they came in', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 5000 }), { maxLength: 400 }), fc.integer({ min: 1, max: 50 }), (indexes, limit) => {
        const set = new IndexSet();
        for (const index of indexes) set.add(index);
        const expected = [...new Set(indexes)].sort((a, b) => a - b);
        expect(set.size).toBe(expected.length);
        const taken: number[] = [];
        for (let chunk = set.take(limit); chunk.length > 0; chunk = set.take(limit)) {
          expect(chunk.length).toBeLessThanOrEqual(limit);
          taken.push(...chunk);
        }
        expect(taken).toEqual(expected);
        expect(set.size).toBe(0);
      }),
    );
  });

  it('an index added below the ones taken still comes out, and one added twice once', () => {
    const set = new IndexSet();
    for (const index of [3, 5, 9, 12, 5]) set.add(index);
    expect(set.take(2)).toEqual([3, 5]);
    expect(set.has(5)).toBe(false);
    expect(set.has(9)).toBe(true);
    set.add(1);
    set.add(20);
    expect(set.take(10)).toEqual([1, 9, 12, 20]);
    expect(set.take(10)).toEqual([]);
  });

  it('adds and takes interleaved like a model set', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ add: fc.nat({ max: 3000 }) }), fc.record({ take: fc.integer({ min: 1, max: 20 }) })), {
          maxLength: 300,
        }),
        (steps) => {
          const set = new IndexSet();
          const model = new Set<number>();
          for (const step of steps) {
            if ('add' in step) {
              set.add(step.add);
              model.add(step.add);
            } else {
              const expected = [...model].sort((a, b) => a - b).slice(0, step.take);
              expect(set.take(step.take)).toEqual(expected);
              for (const index of expected) model.delete(index);
            }
            expect(set.size).toBe(model.size);
          }
        },
      ),
    );
  });

  it('holds a million-item batch in 125 KB and gives it back in order', () => {
    const set = new IndexSet();
    for (let index = 999_999; index >= 0; index--) set.add(index);
    let next = 0;
    let outOfOrder = 0;
    for (let chunk = set.take(10_000); chunk.length > 0; chunk = set.take(10_000))
      for (const index of chunk) if (index !== next++) outOfOrder++;
    expect([next, outOfOrder]).toEqual([1_000_000, 0]);
  });
});
