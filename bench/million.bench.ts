/**
 * A million-item batch run end to end (issue 12): 1,000,000 items uploaded as a CSV, interval 0,
 * against the no-op target process (bench/noop-target.ts), by the built product
 * (`dist/apps/standalone`) on a fresh data directory. While it runs, every `--every` ms, it reads
 * `GET /v1/batches/{id}` (the progress) and one `/executions?limit=100` page at a random depth,
 * timing both, and samples the product's RSS; every 10 s it prints progress. At the end it prints:
 *  - executions/s over the first and the last 100,000 outcomes (and their ratio; the issue asks
 *    for the last within 20% of the first), and over the whole run;
 *  - the product's peak RSS (VmHWM) and the highest VmRSS sampled;
 *  - the data directory's bytes per execution, once every outcome is recorded;
 *  - p50/p99/max of the batch read and of the executions page while it ran.
 * It takes minutes (a million executions at a few thousand per second).
 *
 *   npm run build && node dist/bench/million.bench.js [--items 1000000] [--every 200]
 */
import { encodePageCursor } from '@flotilla/domain';
import {
  Product,
  arg,
  benchCsvForm,
  directoryBytes,
  peakRssMb,
  percentile,
  registerBenchWorkflow,
  rssMb,
  startNoopTarget,
  stopProcess,
  type BatchView,
} from './support';

const items = Number(arg('items', '1000000'));
const everyMs = Number(arg('every', '200'));
const WINDOW = Math.min(100_000, Math.floor(items / 10));
const PAGE = 100;
/** A run with no new outcome for this long has stalled: the bench stops rather than waiting for ever. */
const STALL_MS = 120_000;

/** Reads that failed in transport (a reset connection) while the product was still running. */
let transportErrors = 0;

/**
 * One GET, timed to the last byte of its body. A transport failure while the product still runs
 * is counted and the read tried again (up to 5 times), the retry's time included; if the product
 * has exited, the bench stops and says how.
 */
const timedGet = async <T>(product: Product, path: string): Promise<{ ms: number; body: T }> => {
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(`${product.url}${path}`);
      const text = await response.text();
      const ms = performance.now() - started;
      if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${text.slice(0, 300)}`);
      return { ms, body: JSON.parse(text) as T };
    } catch (error) {
      const child = product.child;
      if (child === null || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the product exited (code ${child?.exitCode}, signal ${child?.signalCode}) during GET ${path}`, { cause: error });
      }
      if (!(error instanceof TypeError) || attempt === 5) throw error;
      transportErrors++;
      console.log(`  GET ${path}: ${String((error as { cause?: unknown }).cause ?? error)}; the product runs, reading again`);
    }
  }
};

const describe = (name: string, sorted: number[]): string =>
  `${name}\t${sorted.length} samples\tp50 ${percentile(sorted, 50).toFixed(1)} ms\tp99 ${percentile(sorted, 99).toFixed(1)} ms\t` +
  `max ${(sorted.at(-1) ?? 0).toFixed(1)} ms`;

async function main(): Promise<void> {
  const target = await startNoopTarget();
  const product = new Product();
  await product.start();
  const pid = product.child?.pid ?? 0;
  try {
    console.log(`Flotilla embedded mode, a ${items}-item batch end to end (interval 0, no-op target process)`);
    // Built before the workflow is registered: building a million rows can outlast the server's
    // keep-alive timeout, and the upload would then be written to the socket it is closing (EPIPE).
    const form = benchCsvForm(items, { name: 'a million', workflowId: 'bench', maxConcurrent: 10000, batchIntervalSeconds: 0 });
    await registerBenchWorkflow(product, target.url);
    const submitted = performance.now();
    const created = await product.json<{ id: string; total: number }>('POST', '/v1/batches', form);
    const accepted = performance.now();
    if (created.total !== items) throw new Error(`accepted ${created.total} of ${items}`);
    console.log(`accepted in ${((accepted - submitted) / 1000).toFixed(1)} s (RSS ${rssMb(pid).toFixed(0)} MB)`);

    // (time, outcomes) as sampled; the window rates are read off the first sample at or past each mark.
    const progress: { at: number; done: number }[] = [{ at: accepted, done: 0 }];
    const batchReads: number[] = [];
    const pageReads: number[] = [];
    let highestRss = 0;
    let lastPrint = accepted;
    for (;;) {
      const batch = await timedGet<BatchView>(product, `/v1/batches/${created.id}`);
      batchReads.push(batch.ms);
      const done = batch.body.progress.completed + batch.body.progress.failed;
      const at = performance.now();
      progress.push({ at, done });
      const from = 1 + Math.floor(Math.random() * (items - PAGE - 1));
      const page = await timedGet<{ items: unknown[] }>(
        product,
        `/v1/batches/${created.id}/executions?limit=${PAGE}&cursor=${cursorAt(from)}`,
      );
      pageReads.push(page.ms);
      highestRss = Math.max(highestRss, rssMb(pid));
      if (at - lastPrint >= 10_000 || done >= items) {
        lastPrint = at;
        console.log(
          `  ${((at - accepted) / 1000).toFixed(0)} s\t${done} outcomes\t${Math.round(done / ((at - accepted) / 1000))} /s so far\t` +
            `RSS ${rssMb(pid).toFixed(0)} MB\tbatch read ${batch.ms.toFixed(1)} ms\tpage read ${page.ms.toFixed(1)} ms`,
        );
      }
      if (done >= items) break;
      const stalledSince = progress.find((sample) => sample.done === done)?.at ?? at;
      if (at - stalledSince > STALL_MS) throw new Error(`no outcome for ${STALL_MS / 1000} s at ${done} of ${items}`);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    const reached = (mark: number): number => (progress.find((sample) => sample.done >= mark) ?? { at: Number.NaN }).at;
    const first = WINDOW / ((reached(WINDOW) - accepted) / 1000);
    const last = WINDOW / ((reached(items) - reached(items - WINDOW)) / 1000);
    const seconds = (reached(items) - accepted) / 1000;
    console.log(`executions/s, first ${WINDOW}\t${Math.round(first)} /s`);
    console.log(`executions/s, last ${WINDOW}\t${Math.round(last)} /s\t(${((last / first) * 100).toFixed(0)}% of the first)`);
    console.log(
      `executions/s, all ${items}\t${Math.round(items / seconds)} /s\t(${seconds.toFixed(0)} s from accepted to the last outcome)`,
    );
    console.log(`peak RSS\t${peakRssMb(pid).toFixed(0)} MB (VmHWM)\thighest sampled VmRSS ${highestRss.toFixed(0)} MB`);
    const bytes = directoryBytes(product.dataDir);
    console.log(`store on disk\t${(bytes / 1024 / 1024).toFixed(0)} MB\t${Math.round(bytes / items)} bytes per execution`);
    console.log(
      describe(
        'GET /v1/batches/{id} while running',
        batchReads.sort((a, b) => a - b),
      ),
    );
    console.log(
      describe(
        `GET /executions?limit=${PAGE} (random depth) while running`,
        pageReads.sort((a, b) => a - b),
      ),
    );
    console.log(`reads reset in transport while the product ran\t${transportErrors} (each read again)`);
  } finally {
    await product.stop();
    await stopProcess(target.child);
  }
}

/** The cursor of the executions page that starts at index `from`. */
const cursorAt = (from: number): string => encodePageCursor(from - 1);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
