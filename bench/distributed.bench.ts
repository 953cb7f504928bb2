/**
 * Distributed mode against embedded mode, in the same run: executions per second end to end
 * (REST submit to every outcome recorded) and the latency from WaveDue to the target call
 * (p50/p99), for the embedded one-process product, and for the four services as separate processes
 * over a real Kafka broker with one and with two executors.
 *
 *   npm run build && node dist/bench/distributed.bench.js [--executions 10000]
 * Kafka: KAFKA_BROKERS if set, else testcontainers, else scripts/kafka.sh (as the tests do).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireKafkaBroker } from '@flotilla/messaging/testing';
import { Product, arg, ServiceProcess, percentile, startTarget, waitForOutcomes } from './support';

const executionCount = Number(arg('executions', '10000'));

type Target = Awaited<ReturnType<typeof startTarget>>;

interface Deployment {
  readonly name: string;
  readonly api: ServiceProcess;
  stop(): Promise<void>;
}

const embedded = async (): Promise<Deployment> => {
  const product = new Product();
  await product.start();
  return { name: 'embedded (one process)', api: product, stop: () => product.stop() };
};

const distributed = async (brokers: string, executors: number): Promise<Deployment> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-dist-bench-'));
  const topic = `flotilla.bench.${randomUUID().slice(0, 8)}`;
  const env = (name: string): Record<string, string> => ({
    TRANSPORT: 'kafka',
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_PREFIX: topic,
    DATA_DIR: dataDir,
    EVENT_STORE: `sqlite:${join(dataDir, 'events.sqlite')}`,
    STATE_DB: join(dataDir, `${name}-state.sqlite`),
  });
  const processes = [
    new ServiceProcess('ingest-api', env('ingest-api')),
    new ServiceProcess('scheduler', { ...env('scheduler'), RELAY: '1' }),
    new ServiceProcess('notifier', env('notifier')),
    ...Array.from({ length: executors }, (_, i) => new ServiceProcess('executor', env(`executor-${i}`))),
  ];
  await Promise.all(processes.map((each) => each.start()));
  // Let the consumer groups settle before measuring.
  await new Promise((done) => setTimeout(done, 5000));
  const api = processes[0];
  if (!api) throw new Error('no api');
  return {
    name: `distributed, ${executors} executor${executors > 1 ? 's' : ''}`,
    api,
    stop: async () => {
      await Promise.all(processes.map((each) => each.stop()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

const measure = async (deployment: Deployment, target: Target): Promise<string> => {
  const { api } = deployment;
  const workflowId = `wf-${randomUUID().slice(0, 8)}`;
  await api.json('POST', '/v1/workflows', { id: workflowId, name: 'noop', inputs: [{ name: 'n' }], target: { url: target.url } });

  // Throughput: everything due at once.
  const items = Array.from({ length: executionCount }, (_, i) => ({ inputs: { n: String(i) } }));
  const started = performance.now();
  const created = await api.json<{ id: string }>('POST', '/v1/batches', {
    name: 'throughput',
    workflowId,
    maxConcurrent: 10000,
    batchIntervalSeconds: 0,
    items,
  });
  await waitForOutcomes(api, created.id, executionCount, 600_000);
  const rate = executionCount / ((performance.now() - started) / 1000);

  // Latency from the WaveDue event to the call reaching the target, over 5 waves of 500.
  const waveItems = Array.from({ length: 2500 }, (_, i) => ({ inputs: { n: String(i) } }));
  const startAt = new Date(Date.now() + 2000).toISOString();
  const waved = await api.json<{ id: string }>('POST', '/v1/batches', {
    name: 'latency',
    workflowId,
    startAt,
    maxConcurrent: 500,
    batchIntervalSeconds: 1,
    // Latency against the original plan's waves: a paced batch would re-plan a wave later than its grace.
    catchUp: 'burst',
    items: waveItems,
  });
  await waitForOutcomes(api, waved.id, waveItems.length, 120_000);
  const waveDueAt = new Map<number | null, number>();
  for (let cursor: string | null = ''; cursor !== null;) {
    const page: { items: { type: string; occurredAt: string; data: { wave: number | null } }[]; nextCursor: string | null } =
      await api.json('GET', `/v1/batches/${waved.id}/history?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    for (const entry of page.items) if (entry.type === 'WaveDue') waveDueAt.set(entry.data.wave, Date.parse(entry.occurredAt));
    cursor = page.nextCursor;
  }
  const latencies: number[] = [];
  for (let index = 0; index < waveItems.length; index++) {
    const calledAt = target.calledAt.get(`${waved.id}.${index}`);
    const dueAt = waveDueAt.get(Math.floor(index / 500));
    if (calledAt !== undefined && dueAt !== undefined) latencies.push(calledAt - dueAt);
  }
  latencies.sort((a, b) => a - b);
  return (
    `${deployment.name.padEnd(28)}\t${Math.round(rate)} executions/s\tWaveDue -> target call p50 ${percentile(latencies, 50)} ` +
    `ms, p99 ${percentile(latencies, 99)} ms (${latencies.length} calls)`
  );
};

async function main(): Promise<void> {
  const broker = await acquireKafkaBroker();
  const target = await startTarget();
  try {
    console.log(`Embedded vs distributed, ${executionCount} executions each, broker ${broker.brokers} (${broker.source})`);
    for (const deploy of [() => embedded(), () => distributed(broker.brokers, 1), () => distributed(broker.brokers, 2)]) {
      const deployment = await deploy();
      try {
        console.log(await measure(deployment, target));
      } finally {
        await deployment.stop();
      }
    }
  } finally {
    await target.close();
    await broker.release();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
