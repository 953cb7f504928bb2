/**
 * Memory per execution waiting in the executor's queue, embedded mode: 2 call slots, a target that
 * accepts connections and never answers, one batch of N executions (100,000 by default) all due at
 * once, so all but two wait for a slot. Prints the process's resident set before the batch and
 * once every execution is triggered and has settled into its wait, and the difference per waiting
 * execution (docs/performance.md, "Memory per waiting execution").
 *
 *   npm run build && node dist/bench/waiting-memory.bench.js [--executions 100000]
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Product, benchCsvForm, peakRssMb, type BatchView } from './support';

const arg = (name: string, fallback: string): string => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
};
const executions = Number(arg('executions', '100000'));

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function main(): Promise<void> {
  const hanging: IncomingMessage[] = [];
  const target = createServer((request) => void hanging.push(request));
  await new Promise<void>((done) => target.listen(0, '127.0.0.1', done));
  const product = new Product({ EXECUTOR_CONCURRENCY: '2' });
  await product.start();
  try {
    const pid = product.child?.pid ?? 0;
    await product.json('POST', '/v1/workflows', {
      id: 'bench',
      name: 'bench',
      inputs: [{ name: 'email' }, { name: 'first_name' }],
      // The two calls in flight wait out the longest timeout a call may have: nothing settles meanwhile.
      target: { url: `http://127.0.0.1:${(target.address() as AddressInfo).port}/run`, timeoutMs: 900_000 },
      limits: { maxInFlight: 2 },
    });
    await new Promise((done) => setTimeout(done, 2000));
    const before = rssMb(pid);
    const created = await product.json<{ id: string }>(
      'POST',
      '/v1/batches',
      benchCsvForm(executions, { name: 'waiting', workflowId: 'bench', maxConcurrent: 10000, batchIntervalSeconds: 0 }),
    );
    for (;;) {
      const batch = await product.json<BatchView>('GET', `/v1/batches/${created.id}`);
      if (batch.progress.triggered >= executions) break;
      await new Promise((done) => setTimeout(done, 500));
    }
    // Let the dispatcher take in the last deliveries and the collector settle.
    let waiting = rssMb(pid);
    for (let i = 0; i < 10; i++) {
      await new Promise((done) => setTimeout(done, 2000));
      waiting = rssMb(pid);
    }
    const perExecution = ((waiting - before) * 1024 * 1024) / executions;
    console.log(
      `waiting memory\t${executions} waiting, 2 slots\tRSS before ${before.toFixed(0)} MB\twaiting ${waiting.toFixed(0)} MB\t` +
        `${(perExecution / 1024).toFixed(2)} KB per waiting execution\tpeak RSS ${peakRssMb(pid).toFixed(0)} MB`,
    );
  } finally {
    await product.stop();
    for (const request of hanging) request.socket.destroy();
    await new Promise((done) => target.close(done));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
