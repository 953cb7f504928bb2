/**
 * Results export, embedded mode: a batch of 1,000,000 executions (a CSV upload starting far in the
 * future: pending executions export too), then `GET /v1/batches/{id}/results` as CSV and as JSONL.
 * The batch is made by one process and exported by a second one started on the same data
 * directory, so the peak RSS printed is the export's, not the intake's. Prints rows per second,
 * time to the first byte and the exporting server's peak RSS.
 *
 *   npm run build && node dist/bench/export.bench.js [--rows 1000000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Product, arg, benchCsvForm, peakRssMb, registerBenchWorkflow, startTarget } from './support';

const rows = Number(arg('rows', '1000000'));

const createBatch = async (dataDir: string, targetUrl: string): Promise<string> => {
  const product = new Product({ DATA_DIR: dataDir });
  await product.start();
  try {
    await registerBenchWorkflow(product, targetUrl);
    const mapping = { company: { type: 'metadata', key: 'company' } };
    const config = {
      name: 'export bench',
      workflowId: 'bench',
      startAt: '2099-01-01T00:00:00Z',
      maxConcurrent: 1000,
      batchIntervalSeconds: 60,
    };
    const form = benchCsvForm(rows, { ...config, mapping });
    const created = await product.json<{ id: string; total: number }>('POST', '/v1/batches', form);
    if (created.total !== rows) throw new Error(`accepted ${created.total} of ${rows}`);
    return created.id;
  } finally {
    await product.stop();
  }
};

/** Reads the whole export, counting lines as they arrive (the bench's rows have no line break inside a cell). */
const exportOnce = async (product: Product, id: string, format: 'csv' | 'jsonl'): Promise<void> => {
  const started = performance.now();
  const response = await fetch(`${product.url}/v1/batches/${id}/results?format=${format}`);
  if (!response.ok || response.body === null) throw new Error(`export ${format}: ${response.status}`);
  let firstByteMs = 0;
  let lines = 0;
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    if (firstByteMs === 0) firstByteMs = performance.now() - started;
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  }
  const seconds = (performance.now() - started) / 1000;
  const exported = format === 'csv' ? lines - 1 : lines;
  if (exported !== rows) throw new Error(`export ${format}: ${exported} rows of ${rows}`);
  const peak = peakRssMb(product.child?.pid ?? 0).toFixed(0);
  console.log(
    `export ${format}\t${rows} rows\t${seconds.toFixed(2)} s\t${Math.round(rows / seconds)} rows/s\t` +
      `first byte ${firstByteMs.toFixed(0)} ms\t${(bytes / 1024 / 1024).toFixed(0)} MB\tpeak RSS ${peak} MB`,
  );
};

async function main(): Promise<void> {
  const target = await startTarget();
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-export-'));
  try {
    console.log(`Flotilla embedded mode, results export of a ${rows}-execution batch (pending executions)`);
    const id = await createBatch(dataDir, target.url);
    for (const format of ['csv', 'jsonl'] as const) {
      // A fresh process per format: each peak RSS is that export's alone.
      const product = new Product({ DATA_DIR: dataDir });
      await product.start();
      try {
        console.log(`server after start\tpeak RSS ${peakRssMb(product.child?.pid ?? 0).toFixed(0)} MB`);
        await exportOnce(product, id, format);
      } finally {
        await product.stop();
      }
    }
  } finally {
    await target.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
