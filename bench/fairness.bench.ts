/**
 * Fairness in the executor's queue, embedded mode: one batch of 100,000 executions, then 20 of
 * 1,000, all at the same priority and all due at once, against a no-op target on loopback. Prints,
 * for each small batch, the time from its submit to its last outcome, with fairness on (the
 * default: turns between batches) and off (EXECUTOR_FAIRNESS=off: first come first served), the
 * big batch's own time, and the process's peak RSS.
 *
 *   npm run build && node dist/bench/fairness.bench.js [--big 100000] [--small 20x1000] [--modes on,off]
 */
import { Product, arg, benchCsvForm, peakRssMb, percentile, startTarget, waitForOutcomes, type BatchView } from './support';

const bigSize = Number(arg('big', '100000'));
const [smallCount, smallSize] = arg('small', '20x1000').split('x').map(Number) as [number, number];
const modes = arg('modes', 'on,off').split(',');

/** Polls a batch until every execution has an outcome; the time from `submittedAt`, in seconds. */
const settle = async (product: Product, id: string, total: number, submittedAt: number): Promise<number> => {
  for (;;) {
    const batch = await product.json<BatchView>('GET', `/v1/batches/${id}`);
    if (batch.progress.completed + batch.progress.failed >= total) return (performance.now() - submittedAt) / 1000;
    await new Promise((done) => setTimeout(done, 50));
  }
};

async function run(mode: string, targetUrl: string): Promise<void> {
  const product = new Product({ EXECUTOR_FAIRNESS: mode });
  await product.start();
  try {
    await product.json('POST', '/v1/workflows', {
      id: 'bench',
      name: 'bench',
      inputs: [{ name: 'email' }, { name: 'first_name' }],
      target: { url: targetUrl },
      // Every one of the executor's 256 slots, not the default half: one workflow here.
      limits: { maxInFlight: 256 },
    });
    const config = { workflowId: 'bench', maxConcurrent: 10000, batchIntervalSeconds: 0 };
    const bigAt = performance.now();
    const big = await product.json<{ id: string }>('POST', '/v1/batches', benchCsvForm(bigSize, { ...config, name: 'big' }));
    const bigDone = settle(product, big.id, bigSize, bigAt);
    const small: Promise<number>[] = [];
    for (let i = 0; i < smallCount; i++) {
      const at = performance.now();
      const created = await product.json<{ id: string }>('POST', '/v1/batches', benchCsvForm(smallSize, { ...config, name: `small ${i}` }));
      small.push(settle(product, created.id, smallSize, at));
    }
    const times = (await Promise.all(small)).sort((a, b) => a - b);
    const bigSeconds = await bigDone;
    await waitForOutcomes(product, big.id, bigSize, 1000);
    const f = (seconds: number): string => `${seconds.toFixed(1)} s`;
    console.log(
      `fairness ${mode.padEnd(3)}\t${smallCount} x ${smallSize} after 1 x ${bigSize}\t` +
        `small: min ${f(times[0]!)} p50 ${f(percentile(times, 50))} max ${f(times[times.length - 1]!)}\t` +
        `big: ${f(bigSeconds)}\tpeak RSS ${peakRssMb(product.child?.pid ?? 0).toFixed(0)} MB`,
    );
  } finally {
    await product.stop();
  }
}

async function main(): Promise<void> {
  const target = await startTarget();
  try {
    for (const mode of modes) await run(mode, target.url);
  } finally {
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
