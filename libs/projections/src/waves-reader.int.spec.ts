import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BatchQueries } from './batch-queries';
import type { WavesView } from './batch-views';
import { WAVES_FRESH_MIN_MS, WavesReader } from './waves-reader';

/** Counts the queries the reader makes, answering a view that says which query it was. */
const countingQueries = () => {
  let calls = 0;
  const queries = {
    waves: (batchId: string): WavesView => {
      calls++;
      return {
        items: [{ executeAt: batchId, planned: calls, pending: 0, triggered: 0, completed: 0, failed: 0, cancelled: 0 }],
        bucketSeconds: 1,
      };
    },
  } as unknown as BatchQueries;
  return { queries, calls: () => calls };
};

describe('WavesReader', () => {
  it('shares one query between concurrent readers of a batch and reuses its answer while fresh', async () => {
    const { queries, calls } = countingQueries();
    const reader = new WavesReader(queries, ':memory:');
    const [first, second] = await Promise.all([reader.read('a'), reader.read('a')]);
    expect(first).toBe(second);
    expect(calls()).toBe(1);
    expect((await reader.read('a')).items[0]?.planned).toBe(1);
    expect((await reader.read('b')).items[0]).toMatchObject({ executeAt: 'b', planned: 2 });
    await reader.close();
  });

  it('asks again once the answer is older than it may be reused', async () => {
    const { queries, calls } = countingQueries();
    const reader = new WavesReader(queries, ':memory:');
    await reader.read('a');
    await new Promise((done) => setTimeout(done, WAVES_FRESH_MIN_MS + 50));
    expect((await reader.read('a')).items[0]?.planned).toBe(2);
    expect(calls()).toBe(2);
  });

  it('answers on its own thread, and says so, when the worker cannot run', async () => {
    // Under jest the worker's TypeScript file has no loader, so the worker fails at its start.
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-waves-'));
    const { queries } = countingQueries();
    const failures: Error[] = [];
    const reader = new WavesReader(queries, join(dir, 'state.sqlite'), (error) => failures.push(error));
    try {
      expect((await reader.read('a')).items[0]).toMatchObject({ executeAt: 'a', planned: 1 });
      expect(failures).toHaveLength(1);
      expect((await reader.read('b')).items[0]).toMatchObject({ executeAt: 'b', planned: 2 });
    } finally {
      await reader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
