/**
 * Reads at a million (issue 12): how long the REST reads take with a 1,000,000-item batch stored.
 * The built product (`dist/apps/standalone`) on a fresh data directory holds two batches:
 *  - the long one, 1,000,000 items uploaded as a CSV with startAt far in the future, so it stays
 *    pending: every execution row exists and a status other than pending matches none of them;
 *  - a finished one, 100,000 items at interval 0 run to the end against the no-op target
 *    (bench/noop-target.ts), for a long history (every execution's trigger and outcome) and
 *    completed executions. Running a million to the end is bench/million.bench.ts's job (minutes);
 *    a tenth of it gives a history of about 200,000 events in a minute or so, deep enough to show
 *    whether a page costs more the deeper it is.
 * Once the product is idle (its background work done), for each query, `--samples` GETs one after
 * another (after a few to warm up), printing p50, p99 and max in ms and how many items the page held:
 *  - GET /v1/batches/{id};
 *  - GET /v1/batches/{id}/executions?limit=100, with no status and each status, at cursor depth
 *    first page, middle and last;
 *  - GET /v1/batches/{id}/history?limit=100 and limit=1000 (the default), first, middle and last page.
 * Targets: batch p99 < 20 ms, executions and history pages p99 < 50 ms.
 *
 *   npm run build && node dist/bench/reads.bench.js [--items 1000000] [--finished 100000] [--samples 200]
 */
import { encodePageCursor } from '@flotilla/domain';
import {
  Product,
  arg,
  benchCsvForm,
  percentile,
  registerBenchWorkflow,
  startNoopTarget,
  stopProcess,
  timeGets,
  waitUntilIdle,
  waitForOutcomes,
} from './support';

const items = Number(arg('items', '1000000'));
const finishedItems = Number(arg('finished', '100000'));
const samples = Number(arg('samples', '200'));
const PAGE = 100;
const STATUSES = ['pending', 'triggered', 'cancelled', 'completed', 'failed'] as const;

interface Page {
  items: unknown[];
  nextCursor: string | null;
}

const report = async (product: Product, label: string, path: string): Promise<void> => {
  const page = await product.json<Page | { id: string }>('GET', path);
  await timeGets(`${product.url}${path}`, 5);
  const durations = await timeGets(`${product.url}${path}`, samples);
  const size = 'items' in page ? `\t${page.items.length} items` : '';
  console.log(
    `${label.padEnd(58)}\tp50 ${percentile(durations, 50).toFixed(1)} ms\tp99 ${percentile(durations, 99).toFixed(1)} ms\t` +
      `max ${(durations.at(-1) ?? 0).toFixed(1)} ms${size}`,
  );
};

/** The cursor of the page starting at index `from` of the executions (a cursor names the last index before it). */
const executionCursor = (from: number): string => (from === 0 ? '' : `&cursor=${encodePageCursor(from - 1)}`);

/** The cursors of a history read `limit` at a time: every page's, first (no cursor) to last. */
const historyCursors = async (product: Product, batchId: string): Promise<string[]> => {
  const cursors = [''];
  for (let cursor: string | null = ''; ;) {
    const page: Page = await product.json('GET', `/v1/batches/${batchId}/history?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ''}`);
    cursor = page.nextCursor;
    if (cursor === null) return cursors;
    cursors.push(`&cursor=${cursor}`);
  }
};

async function main(): Promise<void> {
  const target = await startNoopTarget();
  const product = new Product();
  await product.start();
  try {
    console.log(`Flotilla embedded mode, reads with a ${items}-item batch stored (${samples} sequential GETs per query)`);
    // Built before the workflow is registered: building a million rows can outlast the server's
    // keep-alive timeout, and the upload would then be written to the socket it is closing (EPIPE).
    const form = benchCsvForm(items, {
      name: 'a million, pending',
      workflowId: 'bench',
      startAt: '2099-01-01T00:00:00Z',
      maxConcurrent: 1000,
      batchIntervalSeconds: 60,
    });
    await registerBenchWorkflow(product, target.url);
    let started = performance.now();
    const pending = await product.json<{ id: string; total: number }>('POST', '/v1/batches', form);
    if (pending.total !== items) throw new Error(`accepted ${pending.total} of ${items}`);
    console.log(`stored the pending batch in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    started = performance.now();
    const finished = await product.json<{ id: string }>(
      'POST',
      '/v1/batches',
      benchCsvForm(finishedItems, { name: 'finished', workflowId: 'bench', maxConcurrent: 10000, batchIntervalSeconds: 0 }),
    );
    await waitForOutcomes(product, finished.id, finishedItems, 900_000);
    console.log(`ran the finished batch (${finishedItems} items) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const cursors = await historyCursors(product, finished.id);
    console.log(`its history: ${cursors.length} pages of ${PAGE}`);
    const waited = await waitUntilIdle(product.child?.pid ?? 0);
    console.log(`waited ${(waited / 1000).toFixed(1)} s for the product to be idle`);

    await report(product, `GET batch (${items} items, pending)`, `/v1/batches/${pending.id}`);
    const depths = [
      ['first', 0],
      ['middle', items / 2],
      ['last', items - PAGE],
    ] as const;
    for (const status of [undefined, ...STATUSES]) {
      for (const [depth, from] of depths) {
        await report(
          product,
          `executions ${status ?? 'any status'}, ${depth} page (pending batch)`,
          `/v1/batches/${pending.id}/executions?limit=${PAGE}${status ? `&status=${status}` : ''}${executionCursor(from)}`,
        );
      }
    }
    for (const status of [undefined, 'completed', 'failed', 'pending'] as const) {
      for (const [depth, from] of [
        ['first', 0],
        ['last', finishedItems - PAGE],
      ] as const) {
        await report(
          product,
          `executions ${status ?? 'any status'}, ${depth} page (finished batch)`,
          `/v1/batches/${finished.id}/executions?limit=${PAGE}${status ? `&status=${status}` : ''}${executionCursor(from)}`,
        );
      }
    }
    await report(product, `history limit ${PAGE}, first page (pending batch)`, `/v1/batches/${pending.id}/history?limit=${PAGE}`);
    for (const limit of [PAGE, 1000]) {
      const pagesPerLimit = limit / PAGE;
      const last = Math.floor((cursors.length - 1) / pagesPerLimit) * pagesPerLimit;
      for (const [depth, page] of [
        ['first', 0],
        ['middle', Math.floor(last / 2 / pagesPerLimit) * pagesPerLimit],
        ['last', last],
      ] as const) {
        await report(
          product,
          `history limit ${limit}, ${depth} page (finished batch)`,
          `/v1/batches/${finished.id}/history?limit=${limit}${cursors[page] ?? ''}`,
        );
      }
    }
  } finally {
    await product.stop();
    await stopProcess(target.child);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
