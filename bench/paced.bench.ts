/**
 * A paced million: does a 1,000,000-item batch keep its pace? Uploaded as a CSV to the built
 * product (`dist/apps/standalone`) on a fresh data directory, `--per-wave` executions (default
 * 1,000) every `--interval` seconds (default 1), against the no-op target process, starting
 * `--lead` seconds after the upload is sent (default 30, so the intake is done before the first
 * wave). It runs for `--seconds` (default 60) from the start time, reading `GET /v1/batches/{id}`
 * every 200 ms, then prints:
 *  - outcomes against the plan (per-wave × waves due so far): a batch that keeps its pace is near 100%;
 *  - how many times it was re-planned (`BatchReplanned` in its history: a catch-up after a wave
 *    met later than its grace, half the interval), and each re-plan's time from the start;
 *  - how late each wave's first execution was triggered (the execution's triggeredAt against its executeAt);
 *  - p50/p99/max of the batch read while it ran;
 *  - how long the product took to stop on SIGTERM afterwards (the batch is cancelled first).
 *
 *   npm run build && node dist/bench/paced.bench.js [--items 1000000] [--per-wave 1000] [--interval 1]
 *     [--seconds 60] [--lead 30]
 */
import { encodePageCursor } from '@flotilla/domain';
import { Product, arg, benchCsvForm, percentile, registerBenchWorkflow, startNoopTarget, stopProcess, type BatchView } from './support';

const items = Number(arg('items', '1000000'));
const perWave = Number(arg('per-wave', '1000'));
const intervalSeconds = Number(arg('interval', '1'));
const runSeconds = Number(arg('seconds', '60'));
const leadSeconds = Number(arg('lead', '30'));

interface HistoryPage {
  items: { type: string; occurredAt: string; reason?: string | null }[];
  nextCursor: string | null;
}
interface ExecutionPage {
  items: { index: number; executeAt: string | null; triggeredAt: string | null }[];
}

const timed = async <T>(product: Product, path: string): Promise<{ ms: number; body: T }> => {
  const started = performance.now();
  const body = await product.json<T>('GET', path);
  return { ms: performance.now() - started, body };
};

async function main(): Promise<void> {
  const target = await startNoopTarget();
  const product = new Product();
  await product.start();
  try {
    console.log(
      `Flotilla embedded mode, a paced ${items}-item batch: ${perWave} every ${intervalSeconds} s, ` +
        `${runSeconds} s of it (no-op target process)`,
    );
    const startAtMs = Date.now() + leadSeconds * 1000;
    const form = benchCsvForm(items, {
      name: 'a paced million',
      workflowId: 'bench',
      maxConcurrent: perWave,
      batchIntervalSeconds: intervalSeconds,
      startAt: new Date(startAtMs).toISOString(),
    });
    await registerBenchWorkflow(product, target.url);
    const submitted = Date.now();
    const created = await product.json<{ id: string; total: number }>('POST', '/v1/batches', form);
    console.log(
      `accepted in ${((Date.now() - submitted) / 1000).toFixed(1)} s, ${((startAtMs - Date.now()) / 1000).toFixed(1)} s before its start`,
    );

    const reads: number[] = [];
    let done = 0;
    while (Date.now() < startAtMs + runSeconds * 1000) {
      const batch = await timed<BatchView>(product, `/v1/batches/${created.id}`);
      if (Date.now() >= startAtMs) reads.push(batch.ms);
      done = batch.body.progress.completed + batch.body.progress.failed;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const elapsed = (Date.now() - startAtMs) / 1000;
    const wavesDue = Math.min(Math.floor(elapsed / intervalSeconds) + 1, Math.ceil(items / perWave));
    const planned = Math.min(items, wavesDue * perWave);
    console.log(`outcomes after ${elapsed.toFixed(0)} s\t${done} of ${planned} planned (${((done / planned) * 100).toFixed(0)}%)`);

    const replans: string[] = [];
    for (let cursor: string | null = ''; cursor !== null;) {
      const after: string = cursor === '' ? '' : `&cursor=${cursor}`;
      const page: HistoryPage = await product.json<HistoryPage>('GET', `/v1/batches/${created.id}/history?limit=1000${after}`);
      for (const entry of page.items) {
        if (entry.type === 'BatchReplanned') replans.push(`${((Date.parse(entry.occurredAt) - startAtMs) / 1000).toFixed(1)} s`);
      }
      cursor = page.nextCursor;
    }
    console.log(`re-planned\t${replans.length} times${replans.length > 0 ? ` (at ${replans.join(', ')} from the start)` : ''}`);

    const lateness: number[] = [];
    for (let wave = 0; wave < wavesDue - 1; wave++) {
      const after = wave === 0 ? '' : `&cursor=${encodePageCursor(wave * perWave - 1)}`;
      const page = await product.json<ExecutionPage>('GET', `/v1/batches/${created.id}/executions?limit=1${after}`);
      const first = page.items[0];
      if (first?.triggeredAt && first.executeAt) lateness.push(Date.parse(first.triggeredAt) - Date.parse(first.executeAt));
    }
    lateness.sort((a, b) => a - b);
    console.log(
      `each wave's first trigger, late by\t${lateness.length} waves\tp50 ${percentile(lateness, 50)} ms\t` +
        `p99 ${percentile(lateness, 99)} ms\tmax ${lateness.at(-1) ?? 0} ms`,
    );
    reads.sort((a, b) => a - b);
    console.log(
      `GET /v1/batches/{id} while running\t${reads.length} reads\tp50 ${percentile(reads, 50).toFixed(1)} ms\t` +
        `p99 ${percentile(reads, 99).toFixed(1)} ms\tmax ${(reads.at(-1) ?? 0).toFixed(1)} ms`,
    );

    await product.json('POST', `/v1/batches/${created.id}/cancel`, { reason: 'bench done' });
    const stopping = performance.now();
    await product.stop();
    console.log(`stopped on SIGTERM in\t${((performance.now() - stopping) / 1000).toFixed(1)} s (after the cancel)`);
  } finally {
    await product.stop();
    await stopProcess(target.child);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
