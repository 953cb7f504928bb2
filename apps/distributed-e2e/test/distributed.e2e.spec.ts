import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { acquireKafkaBroker } from '@flotilla/messaging/testing';
import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { TargetServer, eventually, sleep, type PlatformProcess } from '@flotilla/testing';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { Cluster } from './cluster';

/**
 * The four services as four OS processes over a real Kafka broker, sharing one SQLite store file.
 * The target on loopback counts calls by Idempotency-Key.
 */
describe('flotilla distributed over Kafka', () => {
  let cluster: Cluster;
  let target: TargetServer;

  beforeEach(async () => {
    cluster = new Cluster();
    target = new TargetServer();
    await target.start();
  });
  afterEach(async () => {
    if (process.env['FLOTILLA_E2E_LOGS']) console.log(cluster.logs());
    await cluster.stop();
    await target.stop();
  });

  const setUp = async (api: PlatformProcess) => {
    const workflow = await api.request('POST', '/v1/workflows', {
      id: 'wf',
      name: 'wf',
      inputs: [{ name: 'n' }],
      target: { url: target.url },
      retry: { maxAttempts: 3, backoffMs: 50 },
    });
    expect(workflow.status).toBe(201);
  };
  const submit = async (
    api: PlatformProcess,
    total: number,
    maxConcurrent: number,
    batchIntervalSeconds: number,
    catchUp: 'paced' | 'burst' = 'paced',
  ): Promise<string> => {
    const items = Array.from({ length: total }, (_, i) => ({ inputs: { n: String(i) } }));
    const created = await api.request<{ id: string }>('POST', '/v1/batches', {
      name: 'd',
      workflowId: 'wf',
      maxConcurrent,
      batchIntervalSeconds,
      catchUp,
      items,
    });
    expect(created.status).toBe(201);
    return created.body.id;
  };
  const batch = async (api: PlatformProcess, id: string) => (await api.request<BatchView>('GET', `/v1/batches/${id}`)).body;
  const finished = (api: PlatformProcess, id: string, total: number, timeoutMs = 120_000) =>
    eventually(
      () => batch(api, id),
      (view) => view.progress.completed + view.progress.failed === total,
      timeoutMs,
      `${total} outcomes`,
    );
  const history = async (api: PlatformProcess, id: string) =>
    (await api.request<{ items: HistoryEntry[] }>('GET', `/v1/batches/${id}/history?limit=1000`)).body.items;

  /** Exactly one ExecutionTriggered per execution, and every execution reached the target under its own key. */
  const expectEachTriggeredOnce = async (api: PlatformProcess, id: string, total: number) => {
    const triggered = (await history(api, id))
      .filter((entry) => entry.type === 'ExecutionTriggered')
      .map((entry) => (entry.data as { index: number }).index);
    expect([...triggered].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    const keys = [...target.keys()].filter((key) => key.startsWith(`${id}.`));
    expect(new Set(keys)).toEqual(new Set(Array.from({ length: total }, (_, i) => `${id}.${i}`)));
  };

  it('runs a batch in waves across four processes; with two executors every execution is triggered and called exactly once; a poison message is dead-lettered', async () => {
    const api = await cluster.startAll();
    await cluster.start('executor-2', 'executor');
    await setUp(api);

    // A poison record on the events topic, before the batch: it must not hold up its partition.
    const kafka = new Kafka({ brokers: (process.env['KAFKA_BROKERS'] ?? '').split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (let partition = 0; partition < 6; partition++)
      await producer.send({ topic: cluster.topic, messages: [{ partition, value: 'not an event' }] });
    await producer.disconnect();

    // Both executors must be in the group before the batch, so no rebalance happens in the middle.
    await sleep(5000);
    const id = await submit(api, 40, 10, 1);
    const done = await finished(api, id, 40);
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ total: 40, pending: 0, triggered: 40, cancelled: 0, completed: 40, failed: 0, percent: 100 });
    await expectEachTriggeredOnce(api, id, 40);
    const calls = target.calls.filter((call) => call.key.startsWith(`${id}.`));
    expect(calls).toHaveLength(40);
    // Both executors took part in this one batch (ExecutionTriggered is keyed by execution id).
    const dispatchedBy = ['executor', 'executor-2'].map((name) => {
      const db = new DatabaseSync(join(cluster.data.path, `${name}-state.sqlite`), { readOnly: true });
      const row = db.prepare(`SELECT count(*) AS n FROM handled_events WHERE grp = 'executor-dispatch'`).get() as { n: number };
      db.close();
      return row.n;
    });
    expect(dispatchedBy[0]! + dispatchedBy[1]!).toBe(40);
    expect(Math.min(...dispatchedBy)).toBeGreaterThan(0);

    // Waves at the formula's times.
    const executions = (
      await api.request<{ items: { index: number; executeAt: string; triggeredAt: string }[] }>(
        'GET',
        `/v1/batches/${id}/executions?limit=100`,
      )
    ).body.items;
    const start = Date.parse(done.startAt);
    for (const execution of executions) {
      expect(Date.parse(execution.executeAt)).toBe(start + Math.floor(execution.index / 10) * 1000);
      expect(Date.parse(execution.triggeredAt) - Date.parse(execution.executeAt)).toBeLessThan(1000);
    }

    // The poison records went to the dead-letter topic, named by group.
    const letters: { group: string; error: string }[] = [];
    const reader = kafka.consumer({ groupId: `${cluster.topic}.dlq-reader` });
    await reader.connect();
    await reader.subscribe({ topics: [`${cluster.topic}.dlq`], fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => void letters.push(JSON.parse(message.value?.toString() ?? 'null')) });
    await eventually(
      async () => letters.length,
      (count) => count >= 6,
      30_000,
      'dead letters',
    );
    await reader.disconnect();
    expect(letters.every((letter) => letter.error.startsWith('Malformed message'))).toBe(true);
  });

  it('kill -9 of the executor, then of the scheduler, mid-batch: nothing lost, nothing triggered twice, counts exact', async () => {
    const api = await cluster.startAll();
    await setUp(api);
    const id = await submit(api, 60, 5, 0.5);
    await eventually(
      () => batch(api, id),
      (view) => view.progress.triggered >= 10,
      30_000,
      'first waves',
    );
    await cluster.process('executor').kill();
    await sleep(1500);
    await cluster.start('executor', 'executor');
    await eventually(
      () => batch(api, id),
      (view) => view.progress.triggered >= 30,
      60_000,
      'more waves',
    );
    await cluster.process('scheduler').kill();
    await sleep(1500);
    await cluster.start('scheduler', 'scheduler');
    const done = await finished(api, id, 60);
    expect(done.progress).toEqual({ total: 60, pending: 0, triggered: 60, cancelled: 0, completed: 60, failed: 0, percent: 100 });
    await expectEachTriggeredOnce(api, id, 60);
  });

  it('the broker stopped and restarted in the middle of a batch: the batch finishes, nothing lost', async () => {
    const broker = await acquireKafkaBroker();
    const api = await cluster.startAll();
    await setUp(api);
    const id = await submit(api, 30, 3, 0.5);
    await eventually(
      () => batch(api, id),
      (view) => view.progress.triggered >= 6,
      30_000,
      'first waves',
    );
    await broker.restart();
    const done = await finished(api, id, 30, 180_000);
    expect(done.progress).toMatchObject({ total: 30, triggered: 30, completed: 30, failed: 0 });
    await expectEachTriggeredOnce(api, id, 30);
  });

  it('the broker stopped and started mid-batch: a paced batch is re-planned when the executor meets its late waves, and the target never gets more than maxConcurrent calls per interval', async () => {
    const broker = await acquireKafkaBroker();
    const api = await cluster.startAll();
    await setUp(api);
    const maxConcurrent = 2;
    const intervalMs = 2000;
    const id = await submit(api, 16, maxConcurrent, intervalMs / 1000);
    await eventually(
      () => batch(api, id),
      (view) => view.progress.completed >= 2 * maxConcurrent,
      30_000,
      'the first two waves',
    );
    const stoppedAt = Date.now();
    // Stop, then start on the same address and data: the scheduler goes on declaring waves into the
    // store meanwhile, and the relay publishes them when the broker is back, late.
    await broker.restart();
    const outageMs = Date.now() - stoppedAt;
    const done = await finished(api, id, 16, 180_000);
    expect(done.progress).toMatchObject({ total: 16, triggered: 16, completed: 16, failed: 0 });
    await expectEachTriggeredOnce(api, id, 16);

    const starts = target.calls
      .filter((call) => call.key.startsWith(`${id}.`))
      .map((call) => call.at)
      .sort((a, b) => a - b);
    let shortest = Number.POSITIVE_INFINITY;
    for (let i = 0; i + maxConcurrent < starts.length; i++) shortest = Math.min(shortest, starts[i + maxConcurrent]! - starts[i]!);
    // Any maxConcurrent + 1 consecutive call starts span at least the interval less the catch-up
    // grace (1 s: a wave late by less fires as planned) and 300 ms of delivery jitter over Kafka.
    expect({ outageMs, shortest: shortest >= intervalMs - 1000 - 300 }).toEqual({ outageMs, shortest: true });

    const replanned = (await history(api, id)).filter((entry) => entry.type === 'BatchReplanned');
    expect(replanned.length).toBeGreaterThan(0);
    expect(replanned[0]).toMatchObject({ actor: 'system', reason: 'catch-up after downtime' });
    expect(Date.parse(replanned[0]!.occurredAt)).toBeGreaterThan(stoppedAt);
  });
});
