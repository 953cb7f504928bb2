/**
 * The product end to end, embedded mode: the built process (`dist/apps/standalone`) on a free
 * port with a fresh data directory, and a no-op workflow target on loopback. Prints:
 *  - CSV intake: rows accepted per second for 100,000 and 1,000,000 rows, with the server's peak RSS;
 *  - pipeline throughput: executions per second from submit to every outcome recorded
 *    (interval 0, large maxConcurrent);
 *  - wave lateness p50/p99 over waves of 1,000, to the call (calledAt - executeAt) and to the trigger
 *    (triggeredAt - executeAt); per wave, the lateness of its first call and the time to its last.
 *
 *   npm run build && node dist/bench/pipeline.bench.js [--rows 100000,1000000] [--executions 20000]
 */
import { Product, arg, benchCsvForm, peakRssMb, percentile, registerBenchWorkflow, startTarget, waitForOutcomes } from './support';

const rowCounts = arg('rows', '100000,1000000').split(',').map(Number);
const executionCount = Number(arg('executions', '20000'));

async function csvIntake(rows: number, targetUrl: string): Promise<void> {
  const product = new Product();
  await product.start();
  try {
    await registerBenchWorkflow(product, targetUrl);
    // Far in the future: this measures intake, not execution.
    const form = benchCsvForm(rows, {
      name: `csv ${rows}`,
      workflowId: 'bench',
      startAt: '2099-01-01T00:00:00Z',
      maxConcurrent: 1000,
      batchIntervalSeconds: 60,
    });
    const started = performance.now();
    const created = await product.json<{ id: string; total: number }>('POST', '/v1/batches', form);
    const seconds = (performance.now() - started) / 1000;
    if (created.total !== rows) throw new Error(`accepted ${created.total} of ${rows}`);
    const pid = product.child?.pid ?? 0;
    console.log(
      `csv intake\t${rows} rows\t${seconds.toFixed(2)} s\t${Math.round(rows / seconds)} rows/s\tpeak RSS ${peakRssMb(pid).toFixed(0)} MB`,
    );
  } finally {
    await product.stop();
  }
}

async function throughput(targetUrl: string, calls: () => number): Promise<void> {
  const product = new Product();
  await product.start();
  try {
    await product.json('POST', '/v1/workflows', { id: 'noop', name: 'noop', inputs: [{ name: 'n' }], target: { url: targetUrl } });
    const items = Array.from({ length: executionCount }, (_, i) => ({ inputs: { n: String(i) } }));
    const before = calls();
    const started = performance.now();
    const created = await product.json<{ id: string }>('POST', '/v1/batches', {
      name: 'throughput',
      workflowId: 'noop',
      maxConcurrent: 10000,
      batchIntervalSeconds: 0,
      items,
    });
    const batch = await waitForOutcomes(product, created.id, executionCount, 600_000);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `pipeline\t${executionCount} executions\t${seconds.toFixed(2)} s\t${Math.round(executionCount / seconds)} executions/s\t` +
        `(target calls ${calls() - before}, completed ${batch.progress.completed}, failed ${batch.progress.failed}, ` +
        `peak RSS ${peakRssMb(product.child?.pid ?? 0).toFixed(0)} MB)`,
    );
  } finally {
    await product.stop();
  }
}

async function lateness(targetUrl: string): Promise<void> {
  const product = new Product();
  await product.start();
  try {
    await product.json('POST', '/v1/workflows', { id: 'late', name: 'late', inputs: [{ name: 'n' }], target: { url: targetUrl } });
    const waves = 5;
    const items = Array.from({ length: waves * 1000 }, (_, i) => ({ inputs: { n: String(i) } }));
    const startAt = new Date(Date.now() + 2000).toISOString();
    const created = await product.json<{ id: string }>('POST', '/v1/batches', {
      name: 'lateness',
      workflowId: 'late',
      startAt,
      maxConcurrent: 1000,
      batchIntervalSeconds: 2,
      // Lateness against the original plan: a paced batch would re-plan a wave later than its grace and hide it.
      catchUp: 'burst',
      items,
    });
    await waitForOutcomes(product, created.id, items.length, 120_000);
    // Two figures: to the trigger (the wave released to the executor) and to the call (the target
    // reached, after any wait for a call slot), which is what the target sees.
    const toTrigger: number[] = [];
    const toCall: number[] = [];
    // Per wave, its first call and its last: how late the wave started, and how long its 1,000 calls
    // took to go out at the workflow's call slots (the per-call figure above includes that spread).
    const waveCalls = new Map<string, { first: number; last: number }>();
    for (let cursor: string | null = ''; cursor !== null;) {
      const page: { items: { executeAt: string; triggeredAt: string; calledAt: string }[]; nextCursor: string | null } = await product.json(
        'GET',
        `/v1/batches/${created.id}/executions?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      );
      for (const execution of page.items) {
        const executeAt = Date.parse(execution.executeAt);
        const calledAt = Date.parse(execution.calledAt);
        toTrigger.push(Date.parse(execution.triggeredAt) - executeAt);
        toCall.push(calledAt - executeAt);
        const wave = waveCalls.get(execution.executeAt) ?? { first: Infinity, last: -Infinity };
        wave.first = Math.min(wave.first, calledAt);
        wave.last = Math.max(wave.last, calledAt);
        waveCalls.set(execution.executeAt, wave);
      }
      cursor = page.nextCursor;
    }
    for (const [name, late] of [
      ['to the call', toCall],
      ['to the trigger', toTrigger],
    ] as const) {
      late.sort((a, b) => a - b);
      console.log(
        `lateness ${name}\t${waves} waves of 1000\tp50 ${percentile(late, 50)} ms\tp99 ${percentile(late, 99)} ms\tmax ${late.at(-1)} ms`,
      );
    }
    const starts = [...waveCalls].map(([executeAt, wave]) => wave.first - Date.parse(executeAt)).sort((a, b) => a - b);
    const spreads = [...waveCalls.values()].map((wave) => wave.last - wave.first).sort((a, b) => a - b);
    console.log(`lateness of each wave's first call\t${waves} waves\tmin ${starts[0]} ms\tmax ${starts.at(-1)} ms`);
    console.log(`each wave's first call to its last\t${waves} waves\tmin ${spreads[0]} ms\tmax ${spreads.at(-1)} ms`);
  } finally {
    await product.stop();
  }
}

async function main(): Promise<void> {
  const target = await startTarget();
  try {
    console.log('Flotilla embedded mode, end to end (one process, SQLite store, in-process transport)');
    for (const rows of rowCounts) await csvIntake(rows, target.url);
    await throughput(target.url, target.calls);
    await lateness(target.url);
  } finally {
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
