/**
 * The product end to end, embedded mode: the built process (`dist/apps/standalone`) on a free
 * port with a fresh data directory, and a no-op workflow target on loopback. Prints:
 *  - CSV intake: rows accepted per second for 100,000 and 1,000,000 rows, with the server's peak RSS;
 *  - pipeline throughput: executions per second from submit to every outcome recorded
 *    (interval 0, large maxConcurrent);
 *  - wave lateness p50/p99 over waves of 1,000, to the call (calledAt - executeAt) and to the trigger
 *    (triggeredAt - executeAt); per wave, the lateness of its first call and the time to its last,
 *    both as recorded (calledAt) and as the target saw it (when the request reached it).
 *
 *   npm run build && node dist/bench/pipeline.bench.js [--rows 100000,1000000] [--executions 20000]
 *     [--only csv,pipeline,lateness]   (the parts to run; all by default)
 */
import { Product, arg, benchCsvForm, peakRssMb, percentile, registerBenchWorkflow, startTarget, waitForOutcomes } from './support';

const rowCounts = arg('rows', '100000,1000000').split(',').map(Number);
const executionCount = Number(arg('executions', '20000'));
const parts = new Set(arg('only', 'csv,pipeline,lateness').split(','));

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

async function lateness(targetUrl: string, receivedAt: ReadonlyMap<string, number>): Promise<void> {
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
    // How far the recorded calledAt is from the target's receipt of the call (its honesty, per execution).
    const receiptAfterCalledAt: number[] = [];
    // Per wave, its first call and its last: how late the wave started, and how long its 1,000 calls
    // took to go out at the workflow's call slots (the per-call figure above includes that spread).
    // And as the target saw it: when each request reached it (its own clock, the same machine's).
    const waveCalls = new Map<string, { first: number; last: number; received: number; triggered: number }>();
    for (let cursor: string | null = ''; cursor !== null;) {
      const page: { items: { id: string; executeAt: string; triggeredAt: string; calledAt: string }[]; nextCursor: string | null } =
        await product.json('GET', `/v1/batches/${created.id}/executions?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      for (const execution of page.items) {
        const executeAt = Date.parse(execution.executeAt);
        const calledAt = Date.parse(execution.calledAt);
        toTrigger.push(Date.parse(execution.triggeredAt) - executeAt);
        toCall.push(calledAt - executeAt);
        const receipt = receivedAt.get(execution.id);
        if (receipt !== undefined) receiptAfterCalledAt.push(receipt - calledAt);
        const wave = waveCalls.get(execution.executeAt) ?? { first: Infinity, last: -Infinity, received: Infinity, triggered: -Infinity };
        wave.triggered = Math.max(wave.triggered, Date.parse(execution.triggeredAt) - executeAt);
        wave.first = Math.min(wave.first, calledAt);
        wave.received = Math.min(wave.received, receipt ?? Infinity);
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
    // In wave order for the lists, sorted for min and max.
    const firstCalls = [...waveCalls].map(([executeAt, wave]) => wave.first - Date.parse(executeAt));
    const received = [...waveCalls].map(([executeAt, wave]) => wave.received - Date.parse(executeAt));
    const starts = firstCalls.toSorted((a, b) => a - b);
    const receivedSorted = received.toSorted((a, b) => a - b);
    const spreads = [...waveCalls.values()].map((wave) => wave.last - wave.first).sort((a, b) => a - b);
    console.log(
      `lateness of each wave's first call\t${waves} waves\tmin ${starts[0]} ms\tmax ${starts.at(-1)} ms\t(${firstCalls.join(', ')})`,
    );
    console.log(
      `the same, as the target received it\t${waves} waves\tmin ${receivedSorted[0]} ms\tmax ${receivedSorted.at(-1)} ms\t` +
        `(${received.join(', ')})`,
    );
    receiptAfterCalledAt.sort((a, b) => a - b);
    console.log(
      `target's receipt - calledAt\t${receiptAfterCalledAt.length} calls\tmin ${receiptAfterCalledAt[0]} ms\t` +
        `p50 ${percentile(receiptAfterCalledAt, 50)} ms\tp99 ${percentile(receiptAfterCalledAt, 99)} ms\t` +
        `max ${receiptAfterCalledAt.at(-1)} ms`,
    );
    console.log(
      `lateness of each wave's last trigger\t${waves} waves\t(${[...waveCalls.values()].map((wave) => wave.triggered).join(', ')})`,
    );
    console.log(`each wave's first call to its last\t${waves} waves\tmin ${spreads[0]} ms\tmax ${spreads.at(-1)} ms`);
  } finally {
    await product.stop();
  }
}

async function main(): Promise<void> {
  const target = await startTarget();
  try {
    console.log('Flotilla embedded mode, end to end (one process, SQLite store, in-process transport)');
    if (parts.has('csv')) for (const rows of rowCounts) await csvIntake(rows, target.url);
    if (parts.has('pipeline')) await throughput(target.url, target.calls);
    if (parts.has('lateness')) await lateness(target.url, target.calledAt);
  } finally {
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
