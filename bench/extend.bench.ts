/**
 * The Extend-compatible API, embedded mode, driven by the official `extend-ai` SDK: 10 requests of
 * 1,000 inputs each to `POST /workflow_runs/batch`, submitted back to back (each waits for the one
 * before, as a client looping over its files would). Prints the submit time of each request (the
 * SDK call, from send to the answered batch id), then the time until all 10,000 runs have an
 * outcome at a target that answers at once. With `--paced`, the workflow version declares
 * `defaults: { maxConcurrent: 1, batchIntervalSeconds: 3600 }`, so almost nothing runs while the
 * requests are submitted: the submit times are then the intake's alone, not shared with the
 * executor in the same process; it stops after the submits.
 *
 * With `--gap <ms>` the requests are not back to back: the bench waits that long after each answer
 * (not counted), so each request finds the process idle, which tells the intake's own cost from the
 * cost of sharing the process with the work the previous requests started.
 *
 *   npm run build && node dist/bench/extend.bench.js [--requests 10] [--inputs 1000] [--paced] [--gap 1500]
 */
import { ExtendClient } from 'extend-ai';
import { Product, arg, percentile, startTarget, waitForOutcomes } from './support';

const requests = Number(arg('requests', '10'));
const perRequest = Number(arg('inputs', '1000'));
const paced = process.argv.includes('--paced');
const gapMs = Number(arg('gap', '0'));

const main = async (): Promise<void> => {
  const target = await startTarget();
  const product = new Product();
  await product.start();
  try {
    await product.json('POST', '/v1/workflows', {
      id: 'extend-bench',
      name: 'Extend bench',
      inputs: [{ name: 'file' }],
      target: { url: target.url },
      ...(paced ? { defaults: { maxConcurrent: 1, batchIntervalSeconds: 3600 } } : {}),
    });
    const client = new ExtendClient({ token: 'bench', baseUrl: product.url, maxRetries: 0 });
    const started = performance.now();
    const submitMs: number[] = [];
    const batchIds: string[] = [];
    for (let r = 0; r < requests; r++) {
      const inputs = Array.from({ length: perRequest }, (_, i) => ({
        file: { url: `https://files.example.com/batch-${r}/invoice-${i}.pdf`, name: `invoice-${i}.pdf` },
        metadata: { request: r, index: i, customerId: `cust_${r}_${i}` },
      }));
      const before = performance.now();
      const { batchId } = await client.workflowRuns.createBatch({ workflow: { id: 'extend-bench' }, inputs });
      const ms = performance.now() - before;
      submitMs.push(ms);
      batchIds.push(batchId);
      console.log(`request ${r + 1}: ${perRequest} inputs submitted in ${ms.toFixed(1)} ms (${batchId})`);
      if (gapMs > 0) await new Promise((done) => setTimeout(done, gapMs));
    }
    const sorted = [...submitMs].sort((a, b) => a - b);
    const median = percentile(sorted, 50).toFixed(1);
    const max = (sorted[sorted.length - 1] ?? 0).toFixed(1);
    const all = (performance.now() - started).toFixed(0);
    console.log(
      `${paced ? 'paced, ' : ''}submit per request of ${perRequest}: median ${median} ms, max ${max} ms, all ${requests} in ${all} ms`,
    );
    if (paced) return;
    for (const batchId of batchIds) await waitForOutcomes(product, batchId, perRequest, 600_000);
    const seconds = (performance.now() - started) / 1000;
    const runs = requests * perRequest;
    const rate = (runs / seconds).toFixed(0);
    console.log(
      `${runs} runs with an outcome ${seconds.toFixed(1)} s after the first submit (${rate} runs/s); target calls: ${target.calls()}`,
    );
  } finally {
    await product.stop();
    await target.close();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
