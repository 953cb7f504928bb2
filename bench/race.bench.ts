/**
 * The race against the usual hand-rolled alternative: a BullMQ queue on Redis whose worker POSTs
 * each job to the workflow target. The same no-op target process (bench/noop-target.ts) serves
 * both sides, and each side runs the same number of executions, one POST each, alternating over
 * the rounds so that neither gets the machine's quieter minutes:
 *
 *  - BullMQ 6 + ioredis + undici (a keep-alive pool), worker concurrency 100, on a redis-server
 *    started here (from PATH, on a free port) once without persistence (`--appendonly no --save ""`)
 *    and once with `--appendonly yes --appendfsync everysec`, so the comparison says what
 *    durability each side keeps. Completed jobs are kept, as BullMQ does by default (Flotilla keeps
 *    every outcome too). With REDIS_URL set, that server is used as it is configured instead.
 *  - Flotilla embedded: the built process (`dist/apps/standalone`) on a fresh data directory, one
 *    batch of all the executions at interval 0 (every acknowledged event fsynced to disk).
 *
 * For each side and round it prints executions/s from submit to the last outcome, and from the
 * moment the work was accepted (addBulk returned; POST /v1/batches answered) to the last outcome;
 * then the ratios Flotilla / BullMQ over the medians.
 *
 * The `loop` side is the ceiling of any side on this machine: the same POSTs from an undici pool,
 * 100 at a time, with no queue and nothing recorded. The last line says what 1.5x BullMQ would be
 * as a share of it.
 *
 *   npm run build && node dist/bench/race.bench.js [--executions 20000] [--rounds 2] [--sides bullmq,flotilla,loop]
 *
 * `--sides flotilla` runs Flotilla alone: a quicker loop while profiling, no ratio printed.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Pool } from 'undici';
import { Product, arg, freePort, startNoopTarget, startProcess, stopProcess } from './support';

const executions = Number(arg('executions', '20000'));
const rounds = Number(arg('rounds', '2'));
const sides = new Set(arg('sides', 'bullmq,flotilla,loop').split(','));
const WORKER_CONCURRENCY = 100;

interface Lap {
  /** Executions per second from the first submit to the last outcome. */
  readonly endToEnd: number;
  /** Executions per second from the moment all the work was accepted to the last outcome. */
  readonly onceAccepted: number;
}

type Durability = 'none' | 'aof-everysec';

/** A redis-server of our own, so its persistence is what the round says. */
const startRedis = async (durability: Durability): Promise<{ url: string; stop: () => Promise<void> }> => {
  const external = process.env['REDIS_URL'];
  if (external !== undefined) {
    const redis = new IORedis(external);
    await redis.flushall();
    redis.disconnect();
    return { url: external, stop: async () => undefined };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-race-redis-'));
  const persistence =
    durability === 'none' ? ['--appendonly', 'no', '--save', ''] : ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];
  const { child } = await startProcess(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...persistence],
    /Ready to accept connections/,
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

const rate = (count: number, fromMs: number, toMs: number): number => count / ((toMs - fromMs) / 1000);

async function bullmqLap(targetUrl: string, durability: Durability, round: number): Promise<Lap> {
  const redis = await startRedis(durability);
  // Connections of our own: BullMQ leaves a connection it was given open, so they are closed here.
  const queueConnection = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const workerConnection = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const name = `race-${round}`;
  const queue = new Queue(name, { connection: queueConnection });
  const target = new URL(targetUrl);
  const pool = new Pool(target.origin, { connections: WORKER_CONCURRENCY });
  let done = 0;
  let lastOutcomeAt = 0;
  const allDone = new Promise<void>((resolve) => {
    const worker = new Worker(
      name,
      async (job) => {
        const response = await pool.request({
          method: 'POST',
          path: target.pathname,
          headers: { 'content-type': 'application/json', 'idempotency-key': String(job.id) },
          body: JSON.stringify({ executionId: job.id, inputs: job.data }),
        });
        const body = await response.body.text();
        if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
        return body;
      },
      { connection: workerConnection, concurrency: WORKER_CONCURRENCY },
    );
    worker.on('completed', () => {
      done++;
      if (done === executions) {
        lastOutcomeAt = performance.now();
        void worker.close().then(() => resolve());
      }
    });
    worker.on('failed', (_job, error) => console.error(`bullmq job failed: ${error.message}`));
  });
  const started = performance.now();
  for (let from = 0; from < executions; from += 1000) {
    const jobs = Array.from({ length: Math.min(1000, executions - from) }, (_, i) => ({ name: 'run', data: { n: String(from + i) } }));
    await queue.addBulk(jobs);
  }
  const acceptedAt = performance.now();
  await allDone;
  await queue.close();
  queueConnection.disconnect();
  workerConnection.disconnect();
  await pool.close();
  await redis.stop();
  return { endToEnd: rate(executions, started, lastOutcomeAt), onceAccepted: rate(executions, acceptedAt, lastOutcomeAt) };
}

async function flotillaLap(targetUrl: string): Promise<Lap> {
  const product = new Product();
  await product.start();
  try {
    await product.json('POST', '/v1/workflows', { id: 'race', name: 'race', inputs: [{ name: 'n' }], target: { url: targetUrl } });
    const items = Array.from({ length: executions }, (_, i) => ({ inputs: { n: String(i) } }));
    const started = performance.now();
    const created = await product.json<{ id: string }>('POST', '/v1/batches', {
      name: 'race',
      workflowId: 'race',
      maxConcurrent: 10_000,
      batchIntervalSeconds: 0,
      items,
    });
    const acceptedAt = performance.now();
    // Polled often enough that the poll's own delay is a small part of a lap of several seconds.
    for (;;) {
      const batch = await product.json<{ progress: { completed: number; failed: number } }>('GET', `/v1/batches/${created.id}`);
      if (batch.progress.failed > 0) throw new Error(`${batch.progress.failed} executions failed`);
      if (batch.progress.completed >= executions) break;
      await new Promise((done) => setTimeout(done, 20));
    }
    const lastOutcomeAt = performance.now();
    console.log(`  flotilla per execution:\t${perExecutionIo(product)}`);
    return { endToEnd: rate(executions, started, lastOutcomeAt), onceAccepted: rate(executions, acceptedAt, lastOutcomeAt) };
  } finally {
    await product.stop();
  }
}

/**
 * What one execution cost the product, trigger to outcome, averaged over the lap: CPU time (user and
 * system; a steadier figure than the rate on a shared machine, though it includes the start-up), bytes it
 * asked the kernel to write (`wchar`), bytes that reached the block layer (`write_bytes`), write
 * calls (`syscw`), all from /proc/<pid>/io, and the data directory's size once the lap is done.
 * The lap's workflow registration and batch intake are included (small next to 20,000 outcomes).
 */
const perExecutionIo = (product: Product): string => {
  const pid = product.child?.pid ?? 0;
  const io = Object.fromEntries(
    readFileSync(`/proc/${pid}/io`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(': ') as [string, string])
      .map(([key, value]) => [key, Number(value)]),
  );
  const onDisk = readdirSync(product.dataDir).reduce((sum, name) => sum + statSync(join(product.dataDir, name)).size, 0);
  const per = (value: number | undefined): string => ((value ?? 0) / executions).toFixed(0);
  // utime and stime, the 14th and 15th fields of /proc/<pid>/stat (after the parenthesised name), in clock ticks of 10 ms.
  const [utime = 0, stime = 0] = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ').slice(11, 13).map(Number);
  return (
    `${(((utime + stime) * 10_000) / executions).toFixed(0)} µs CPU (process lifetime), ` +
    `${per(io['wchar'])} B written (wchar), ${per(io['write_bytes'])} B to the block layer, ` +
    `${((io['syscw'] ?? 0) / executions).toFixed(1)} write calls, ${per(onDisk)} B in the data directory`
  );
};

/** The bare loop: every POST from a keep-alive pool, WORKER_CONCURRENCY at a time, nothing queued or recorded. */
async function loopLap(targetUrl: string): Promise<Lap> {
  const target = new URL(targetUrl);
  const pool = new Pool(target.origin, { connections: WORKER_CONCURRENCY });
  let next = 0;
  const started = performance.now();
  const caller = async (): Promise<void> => {
    for (let n = next++; n < executions; n = next++) {
      const response = await pool.request({
        method: 'POST',
        path: target.pathname,
        headers: { 'content-type': 'application/json', 'idempotency-key': String(n) },
        body: JSON.stringify({ executionId: String(n), inputs: { n: String(n) } }),
      });
      await response.body.text();
      if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: WORKER_CONCURRENCY }, caller));
  const finished = performance.now();
  await pool.close();
  return { endToEnd: rate(executions, started, finished), onceAccepted: rate(executions, started, finished) };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

const show = (lap: Lap): string =>
  `${Math.round(lap.endToEnd)} /s submit to last outcome, ${Math.round(lap.onceAccepted)} /s once accepted`;

const main = async (): Promise<void> => {
  const { child: target, url: targetUrl } = await startNoopTarget();
  const laps: Record<'bullmq-none' | 'bullmq-aof' | 'flotilla' | 'loop', Lap[]> = {
    'bullmq-none': [],
    'bullmq-aof': [],
    flotilla: [],
    loop: [],
  };
  try {
    for (let round = 1; round <= rounds; round++) {
      if (sides.has('bullmq')) {
        laps['bullmq-none'].push(await bullmqLap(targetUrl, 'none', round));
        console.log(`round ${round} bullmq, no persistence:\t${show(laps['bullmq-none'].at(-1) as Lap)}`);
        laps['bullmq-aof'].push(await bullmqLap(targetUrl, 'aof-everysec', round));
        console.log(`round ${round} bullmq, aof everysec:\t${show(laps['bullmq-aof'].at(-1) as Lap)}`);
      }
      if (sides.has('flotilla')) {
        laps.flotilla.push(await flotillaLap(targetUrl));
        console.log(`round ${round} flotilla embedded:\t${show(laps.flotilla.at(-1) as Lap)}`);
      }
      if (sides.has('loop')) {
        laps.loop.push(await loopLap(targetUrl));
        console.log(`round ${round} the bare undici loop:\t${Math.round((laps.loop.at(-1) as Lap).endToEnd)} calls/s`);
      }
    }
  } finally {
    await stopProcess(target);
  }
  if (!sides.has('bullmq') || !sides.has('flotilla')) return;
  const ratio = (peer: Lap[], key: keyof Lap): string =>
    (median(laps.flotilla.map((l) => l[key])) / median(peer.map((l) => l[key]))).toFixed(2);
  console.log(
    `race\t${executions} executions x ${rounds} rounds\tflotilla / bullmq (no persistence): ` +
      `${ratio(laps['bullmq-none'], 'endToEnd')}x submit to last outcome, ${ratio(laps['bullmq-none'], 'onceAccepted')}x once accepted\t` +
      `flotilla / bullmq (aof everysec): ${ratio(laps['bullmq-aof'], 'endToEnd')}x, ${ratio(laps['bullmq-aof'], 'onceAccepted')}x`,
  );
  if (!sides.has('loop')) return;
  const ceiling = median(laps.loop.map((l) => l.endToEnd));
  const bullmq = median(laps['bullmq-none'].map((l) => l.endToEnd));
  const flotilla = median(laps.flotilla.map((l) => l.endToEnd));
  const aim = 1.5 * bullmq;
  console.log(
    `ceiling\tthe bare loop ${Math.round(ceiling)} calls/s\t1.5x bullmq (no persistence) submit to last would be ${Math.round(aim)} /s, ` +
      `${(aim / ceiling).toFixed(2)}x the bare loop; flotilla is ${(flotilla / ceiling).toFixed(2)}x it, ` +
      `bullmq ${(bullmq / ceiling).toFixed(2)}x`,
  );
};

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
