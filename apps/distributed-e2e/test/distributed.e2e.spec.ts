import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { randomBytes } from 'node:crypto';
import { openEventStore, type StoredEvent } from '@flotilla/event-store';
import { RELAYED_STREAM_PREFIXES, patchKafkajsRequestQueue } from '@flotilla/messaging';
import { acquireKafkaBroker, readWholeTopic } from '@flotilla/messaging/testing';
import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { TargetServer, eventually, freshPostgresDatabase, sleep, startWebhookReceiver, type PlatformProcess } from '@flotilla/testing';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { Cluster } from './cluster';

/**
 * The four services as four OS processes over a real Kafka broker, sharing one event store: a
 * SQLite file (one host), then a PostgreSQL database of its own on the real server (the tested
 * multi-host shape). The target on loopback counts calls by Idempotency-Key.
 */
describe.each(['sqlite', 'postgres'] as const)('flotilla distributed over Kafka, the store on %s', (storeKind) => {
  let cluster: Cluster;
  let target: TargetServer;
  let database: Awaited<ReturnType<typeof freshPostgresDatabase>> | null = null;

  beforeEach(async () => {
    database = storeKind === 'postgres' ? await freshPostgresDatabase() : null;
    cluster = new Cluster(database?.url);
    target = new TargetServer();
    await target.start();
  });
  afterEach(async () => {
    if (process.env['FLOTILLA_E2E_LOGS']) console.log(cluster.logs());
    await cluster.stop();
    await target.stop();
    await database?.drop();
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

  const kafka = () => {
    // As the product's transport does: unpatched, each connection of this test's client spins a negative timer (TimeoutNegativeWarning).
    patchKafkajsRequestQueue();
    return new Kafka({ brokers: (process.env['KAFKA_BROKERS'] ?? '').split(','), logLevel: logLevel.NOTHING });
  };
  /** The store's events that pass `keep`, read with the product's own adapter. */
  const storedEvents = async (keep: (event: StoredEvent) => boolean): Promise<StoredEvent[]> => {
    const store = await openEventStore(cluster.eventStoreUrl);
    try {
      const kept: StoredEvent[] = [];
      for await (const event of store.readAll()) if (keep(event)) kept.push(event);
      return kept;
    } finally {
      await store.close();
    }
  };

  it('runs a batch in waves across four processes; with two executors every execution is triggered and called exactly once; a poison message is dead-lettered', async () => {
    const api = await cluster.startAll();
    await cluster.start('executor-2', 'executor');
    await setUp(api);

    // A poison record on the events topic, before the batch: it must not hold up its partition.
    const client = kafka();
    const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
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
    const reader = client.consumer({ groupId: `${cluster.topic}.dlq-reader` });
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

  it('two relays (RELAY=1 on both executors): one publishes, and after kill -9 of it the other takes over; nothing lost, at most a renewal period of events published twice', async () => {
    const api = await cluster.startAll({ scheduler: { RELAY: '0' }, executor: { RELAY: '1' } });
    await eventually(
      async () => cluster.process('executor').output.join(''),
      (output) => output.includes('Relay lease taken'),
      30_000,
      'the first executor taking the relay lease',
    );
    await cluster.start('executor-2', 'executor', { RELAY: '1' });
    await setUp(api);
    await sleep(5000);
    const id = await submit(api, 120, 5, 0.5);
    await eventually(
      () => batch(api, id),
      (view) => view.progress.triggered >= 10,
      30_000,
      'first waves',
    );
    // While both run, only the holder publishes.
    expect(cluster.process('executor-2').output.join('')).not.toContain('Relay lease taken');
    await cluster.process('executor').kill();
    const done = await finished(api, id, 120, 120_000);
    expect(done.progress).toEqual({ total: 120, pending: 0, triggered: 120, cancelled: 0, completed: 120, failed: 0, percent: 100 });
    await expectEachTriggeredOnce(api, id, 120);
    expect(cluster.process('executor-2').output.join('')).toContain('Relay lease taken');

    // Every relayed event of the store is on the topic; an event is there twice only when the
    // killed holder had published it past its last checkpoint (at most one relay batch of 500).
    // Read both until the relay has published the last events (the batch's end may still be on its way).
    const { relayed, published } = await eventually(
      async () => ({
        relayed: (await storedEvents((event) => RELAYED_STREAM_PREFIXES.some((prefix) => event.streamName.startsWith(prefix)))).map(
          (event) => event.id,
        ),
        published: (await readWholeTopic(kafka(), cluster.topic)).map((record) => record.headers['event-id']),
      }),
      (read) => read.relayed.every((id) => read.published.includes(id)),
      30_000,
      'every relayed event on the topic',
    );
    expect(new Set(published)).toEqual(new Set(relayed));
    // Twice only what the holder sent after it last recorded its position in the lease (at most a
    // renewal period's worth); two relays publishing side by side would have sent every event twice.
    const twice = published.length - new Set(published).size;
    expect({ twice, underHalf: twice < relayed.length / 2 }).toEqual({ twice, underHalf: true });
  });

  if (storeKind === 'sqlite') {
    it("no secret on the topic: a webhook's signing secret, an Extend run's secrets, an API key and their stored forms are in no Kafka record", async () => {
      const api = await cluster.startAll();
      await setUp(api);
      const webhookSecret = `whsec-${randomBytes(16).toString('hex')}`;
      const extendSecret = `ext-${randomBytes(16).toString('hex')}`;
      const receiver = await startWebhookReceiver();
      try {
        const registered = await api.request('POST', '/v1/webhooks', {
          url: receiver.url,
          events: ['batch.started', 'batch.completed'],
          secret: webhookSecret,
        });
        expect(registered.status).toBe(201);
        const key = await api.request<{ key: string }>('POST', '/v1/keys', { team: 'alpha', role: 'submitter', name: 'ci' });
        expect(key.status).toBe(201);
        const extendWorkflow = await api.request('POST', '/v1/workflows', {
          id: 'ext',
          name: 'ext',
          inputs: [{ name: 'file' }],
          target: { url: target.url },
        });
        expect(extendWorkflow.status).toBe(201);
        const run = await api.request<{ batchId: string }>('POST', '/workflow_runs/batch', {
          workflow: { id: 'ext' },
          inputs: [{ file: { url: 'https://files.example.com/a.pdf' }, secrets: { apiKey: extendSecret } }],
        });
        expect(run.status).toBe(200);
        await finished(api, run.body.batchId, 1);
        const id = await submit(api, 5, 5, 0);
        await finished(api, id, 5);
        // The notifier still signs with the secret it reads from the store.
        await eventually(
          () => Promise.resolve(receiver.deliveries.length),
          (count) => count >= 2,
          30_000,
          'deliveries',
        );

        // What is stored sealed or hashed: the ciphertexts and the key's hash, found in the store itself.
        const stored = await storedEvents(() => true);
        const storedForms = stored.flatMap((event) => sealedAndHashedIn(event.data));
        expect(storedForms.length).toBeGreaterThanOrEqual(3);
        const forbidden = [webhookSecret, extendSecret, key.body.key, ...storedForms];

        const records = [
          ...(await readWholeTopic(kafka(), cluster.topic)),
          ...(await readWholeTopic(kafka(), `${cluster.topic}.dlq`).catch(() => [])),
        ];
        expect(records.some((record) => record.value?.includes('WebhookRegistered'))).toBe(true);
        const leaks = records.flatMap((record) => {
          const bytes = [record.key ?? '', record.value ?? '', ...Object.values(record.headers)].join('\n');
          return forbidden
            .filter((secret) => bytes.includes(secret))
            .map((secret) => `${record.partition}/${record.offset}: ${secret.slice(0, 12)}…`);
        });
        expect(leaks).toEqual([]);
      } finally {
        await receiver.stop();
      }
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
      // Readiness follows the broker: 503 naming it while it is away, 200 again once it is back.
      const readiness: { status: number; broker?: boolean }[] = [];
      let restarting = true;
      const probing = (async () => {
        while (restarting) {
          const answer = await cluster.process('scheduler').request<{ checks: Record<string, { ok: boolean }> }>('GET', '/health/ready');
          readiness.push({ status: answer.status, broker: answer.body.checks['broker']?.ok });
          await sleep(250);
        }
      })();
      await broker.restart();
      await eventually(
        () => cluster.process('scheduler').request('GET', '/health/ready'),
        (answer) => answer.status === 200,
        60_000,
        'ready again',
      );
      restarting = false;
      await probing;
      expect(readiness).toContainEqual({ status: 503, broker: false });
      expect(readiness[0]).toEqual({ status: 200, broker: true });
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
      // Any maxConcurrent + 1 consecutive call starts span at least the interval less the executor's
      // 50 ms slack (WavePacer), whether the triggers reached it on time or late and together (the
      // dispatching consumer group may come back from the outage seconds after the triggering one),
      // less 400 ms between a call's turn and its arrival here (its batch and its item are read in between).
      const relative = starts.map((at) => at - starts[0]!);
      expect({ outageMs, shortest, relative, paced: shortest >= intervalMs - 50 - 400 }).toEqual({
        outageMs,
        shortest,
        relative,
        paced: true,
      });

      const replanned = (await history(api, id)).filter((entry) => entry.type === 'BatchReplanned');
      expect(replanned.length).toBeGreaterThan(0);
      expect(replanned[0]).toMatchObject({ actor: 'system', reason: 'catch-up after downtime' });
      expect(Date.parse(replanned[0]!.occurredAt)).toBeGreaterThan(stoppedAt);
    });
  }
});

/** A sealed secret's ciphertext and a key's hash, wherever they sit in an event's data. */
const sealedAndHashedIn = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.flatMap(sealedAndHashedIn);
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  const own = [
    ...(typeof record['ct'] === 'string' && typeof record['tag'] === 'string' ? [record['ct']] : []),
    ...(typeof record['hash'] === 'string' && record['hash'].length >= 32 ? [record['hash']] : []),
  ];
  return [...own, ...Object.values(record).flatMap(sealedAndHashedIn)];
};
