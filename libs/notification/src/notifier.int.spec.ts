import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { BatchCommandHandler, batchStream } from '@flotilla/application';
import { type BatchCommand } from '@flotilla/domain';
import { type EventStore } from '@flotilla/event-store';
import { CoreModule, EVENT_STORE, loadConfig } from '@flotilla/platform';
import { DeliveryLog } from './delivery-log';
import { DeliveryQueue } from './delivery-queue';
import { createBatch, refusingUrl, startReceiver, type Receiver } from './notification.fixtures';
import { type NotifierOptions } from './notifier';
import { NotifierModule } from './notifier.module';
import { verifySignature } from './signature';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '@flotilla/domain';
import { WebhookRegistry } from './webhook-registry';
import { until } from '@flotilla/testing/poll';

const SECRET = 'receiver-secret-1';
const OTHER_SECRET = 'receiver-secret-2';

describe('Notifier', () => {
  let dir: string;
  let app: TestingModule | null = null;
  const receivers: Receiver[] = [];

  const boot = async (options: NotifierOptions = { baseDelayMs: 10 }): Promise<TestingModule> => {
    const module = await Test.createTestingModule({
      imports: [CoreModule.forRoot(loadConfig({ DATA_DIR: dir })), NotifierModule.forRoot(options)],
    }).compile();
    module.useLogger(false);
    await module.init();
    app = module;
    return module;
  };
  const receiver = async (answer?: (request: number) => number | 'hang'): Promise<Receiver> => {
    const started = await startReceiver(answer);
    receivers.push(started);
    return started;
  };
  const register = (
    module: TestingModule,
    url: string,
    events: readonly WebhookEventType[],
    options: { secret?: string; workflowId?: string } = {},
  ) =>
    module
      .get(WebhookRegistry)
      .register({
        url,
        events,
        secret: options.secret ?? SECRET,
        ...(options.workflowId ? { workflowId: options.workflowId } : {}),
        actor: 'tester',
        now: new Date(),
      })
      .then(({ webhook }) => webhook);
  const run = (module: TestingModule, batchId: string, command: BatchCommand) => module.get(BatchCommandHandler).handle(batchId, command);
  const attemptsOf = async (module: TestingModule, webhookId: string) => (await module.get(DeliveryLog).read(webhookId)).items;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-notifier-'));
  });
  afterEach(async () => {
    await app?.close();
    app = null;
    for (const started of receivers.splice(0)) await started.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('POSTs each subscribed event, signed, with its type, batch, execution and merged metadata', async () => {
    const module = await boot();
    const everything = await receiver();
    const executionsOnly = await receiver();
    const all = await register(module, everything.url, WEBHOOK_EVENT_TYPES);
    const completedOnly = await register(module, executionsOnly.url, ['execution.completed'], { secret: OTHER_SECRET });

    const batchId = await createBatch(module, {
      workflowId: 'wf-a',
      metadata: { team: 'growth', region: 'eu' },
      items: [{ inputs: { n: 0 } }, { inputs: { n: 1 }, metadata: { region: 'us', customer: 'c-42' } }, { inputs: { n: 2 } }],
      maxConcurrent: 2,
    });
    await run(module, batchId, { type: 'TriggerDueExecutions', batchId, now: new Date(), limit: 10 });
    await run(module, batchId, { type: 'RecordExecutionCompleted', batchId, index: 1, output: { ok: true }, attempts: 1, now: new Date() });
    await run(module, batchId, {
      type: 'RecordExecutionFailed',
      batchId,
      index: 0,
      error: 'boom',
      statusCode: 502,
      attempts: 3,
      now: new Date(),
    });
    const throttledUntil = new Date(Date.now() + 5000);
    await run(module, batchId, { type: 'RecordThrottled', batchId, until: throttledUntil, workflowId: 'wf-a', now: new Date() });
    await run(module, batchId, { type: 'RecordThrottleLifted', batchId, now: new Date() });
    await run(module, batchId, { type: 'PauseBatch', batchId, now: new Date(), actor: 'ops' });
    await run(module, batchId, {
      type: 'ReconfigureBatch',
      batchId,
      changes: { maxConcurrent: 1, maxFailures: 5 },
      now: new Date(),
      actor: 'ops',
      reason: 'gentler',
    });
    // The last message: once it arrives, every message of the batch before it has been fully handled (per-batch order).
    await run(module, batchId, { type: 'ResumeBatch', batchId, now: new Date(), actor: 'ops' });

    await until(() => everything.requests.length === 8);
    // Each webhook has its own lanes: the other one's delivery may still be on its way. An empty queue means every delivery was made.
    await until(() => module.get(DeliveryQueue).size() === 0);
    expect(everything.requests.map((request) => request.payload.type)).toEqual([
      'batch.started',
      'execution.completed',
      'execution.failed',
      'batch.throttled',
      'batch.throttle_lifted',
      'batch.paused',
      'batch.reconfigured',
      'batch.resumed',
    ]);
    expect(executionsOnly.requests.map((request) => request.payload.type)).toEqual(['execution.completed']);

    const eventIds = new Map<string, string>();
    for await (const event of module.get<EventStore>(EVENT_STORE).readStream(batchStream(batchId))) eventIds.set(event.type, event.id);
    for (const [received, webhookId, secret] of [
      ...everything.requests.map((request) => [request, all.id, SECRET] as const),
      ...executionsOnly.requests.map((request) => [request, completedOnly.id, OTHER_SECRET] as const),
    ]) {
      expect(received.headers['content-type']).toBe('application/json');
      expect(received.headers['x-webhook-id']).toBe(webhookId);
      expect(received.headers['x-event-id']).toBe(received.payload.id);
      const signature = String(received.headers['x-signature']);
      expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(verifySignature(secret, signature, received.body, 60, new Date())).toBe(true);
      expect(verifySignature(secret === SECRET ? OTHER_SECRET : SECRET, signature, received.body, 60, new Date())).toBe(false);
    }

    const [started, completed, failed, throttled, lifted, paused, reconfigured] = everything.requests.map((request) => request.payload);
    expect(throttled).toMatchObject({
      id: eventIds.get('BatchThrottled'),
      batchId,
      data: { until: throttledUntil.toISOString(), workflowId: 'wf-a' },
    });
    expect(throttled).not.toHaveProperty('executionId');
    expect(lifted).toMatchObject({ id: eventIds.get('BatchThrottleLifted'), type: 'batch.throttle_lifted', batchId });
    expect(started).toEqual({
      id: eventIds.get('BatchStarted'),
      type: 'batch.started',
      occurredAt: expect.any(String),
      batchId,
      metadata: { team: 'growth', region: 'eu' },
      data: { batchId, occurredAt: started!.occurredAt },
    });
    expect(completed).toEqual({
      id: eventIds.get('ExecutionCompleted'),
      type: 'execution.completed',
      occurredAt: expect.any(String),
      batchId,
      executionId: `${batchId}.1`,
      metadata: { team: 'growth', region: 'us', customer: 'c-42' },
      data: expect.objectContaining({ batchId, executionId: `${batchId}.1`, index: 1, output: { ok: true }, attempts: 1 }),
    });
    expect(failed).toMatchObject({
      id: eventIds.get('ExecutionFailed'),
      executionId: `${batchId}.0`,
      metadata: { team: 'growth', region: 'eu' },
      data: { error: 'boom', statusCode: 502, attempts: 3 },
    });
    expect(paused).toMatchObject({ id: eventIds.get('BatchPaused'), batchId, data: { actor: 'ops' } });
    expect(paused).not.toHaveProperty('executionId');
    expect(reconfigured).toMatchObject({
      id: eventIds.get('BatchReconfigured'),
      type: 'batch.reconfigured',
      batchId,
      metadata: { team: 'growth', region: 'eu' },
      data: {
        changes: { maxConcurrent: { from: 2, to: 1 }, maxFailures: { from: null, to: 5 } },
        planStartsAt: null,
        pending: 1,
        actor: 'ops',
        reason: 'gentler',
      },
    });
    expect(executionsOnly.requests[0]!.payload).toEqual(completed);
  });

  it('sends to a workflow-filtered webhook only the batches of its workflow', async () => {
    const module = await boot();
    const filteredReceiver = await receiver();
    const everyReceiver = await receiver();
    await register(module, filteredReceiver.url, ['batch.started', 'batch.paused'], { workflowId: 'wf-a' });
    await register(module, everyReceiver.url, WEBHOOK_EVENT_TYPES);

    const ofA = await createBatch(module, { workflowId: 'wf-a', items: [{ inputs: {} }], maxConcurrent: 1 });
    const ofB = await createBatch(module, { workflowId: 'wf-b', items: [{ inputs: {} }], maxConcurrent: 1 });
    for (const batchId of [ofB, ofA]) {
      await run(module, batchId, { type: 'PauseBatch', batchId, now: new Date(), actor: 'ops' });
      // Sent only to the unfiltered webhook: once it arrives, the batch's earlier messages have all been enqueued.
      await run(module, batchId, { type: 'ResumeBatch', batchId, now: new Date(), actor: 'ops' });
    }

    await until(() => everyReceiver.requests.filter((request) => request.payload.type === 'batch.resumed').length === 2);
    await until(() => module.get(DeliveryQueue).size() === 0);
    expect(filteredReceiver.requests.map((request) => [request.payload.type, request.payload.batchId])).toEqual([
      ['batch.started', ofA],
      ['batch.paused', ofA],
    ]);
    expect(new Set(everyReceiver.requests.map((request) => request.payload.batchId))).toEqual(new Set([ofA, ofB]));
  });

  it('retries refused connections and timeouts with exponential backoff, records every attempt, then gives up', async () => {
    const module = await boot({ baseDelayMs: 10, maxAttempts: 3, timeoutMs: 200 });
    const silent = await receiver(() => 'hang');
    const refusing = await register(module, await refusingUrl(), ['batch.started']);
    const hanging = await register(module, silent.url, ['batch.started']);
    const batchId = await createBatch(module, { workflowId: 'wf', items: [{ inputs: {} }] });

    await until(async () => (await attemptsOf(module, refusing.id)).length === 3 && (await attemptsOf(module, hanging.id)).length === 3);
    expect(silent.requests).toHaveLength(3);
    for (const [webhook, error] of [
      [refusing, /ECONNREFUSED/],
      [hanging, /^timed out after 200 ms$/],
    ] as const) {
      const attempts = await attemptsOf(module, webhook.id);
      expect(attempts.map((attempt) => attempt.attempt)).toEqual([3, 2, 1]);
      expect(new Set(attempts.map((attempt) => attempt.deliveryId)).size).toBe(1);
      for (const attempt of attempts) {
        expect(attempt).toMatchObject({ eventType: 'batch.started', batchId, executionId: null, statusCode: null, delivered: false });
        expect(attempt.error).toMatch(error);
      }
      // Backoff doubles (10 ms, 20 ms); the last attempt announces no next one: the delivery was given up.
      expect(
        attempts.map((attempt) =>
          attempt.nextAttemptAt === null ? null : Date.parse(attempt.nextAttemptAt) - Date.parse(attempt.occurredAt),
        ),
      ).toEqual([null, 20, 10]);
    }
    expect((await attemptsOf(module, hanging.id))[0]!.durationMs).toBeGreaterThanOrEqual(190);
    // Given up: out of the queue, and no further attempt.
    await until(() => module.get(DeliveryQueue).size() === 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(silent.requests).toHaveLength(3);
  });

  it('a delivery cut short by a shutdown is not recorded, and the event is sent again after the restart', async () => {
    const first = await boot({ baseDelayMs: 10, timeoutMs: 30_000 });
    const flaky = await receiver((request) => (request === 1 ? 'hang' : 200));
    const webhook = await register(first, flaky.url, ['batch.started']);
    await createBatch(first, { workflowId: 'wf', items: [{ inputs: {} }] });
    await until(() => flaky.requests.length === 1);

    // Does not wait out the 30 s timeout: the shutdown aborts the request.
    const closing = Date.now();
    await first.close();
    app = null;
    expect(Date.now() - closing).toBeLessThan(2000);

    const second = await boot();
    await until(async () => (await attemptsOf(second, webhook.id)).length > 0);
    const attempts = await attemptsOf(second, webhook.id);
    expect(attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, delivered: true })]);
    expect(flaky.requests).toHaveLength(2);
    expect(flaky.requests[1]!.headers['x-event-id']).toBe(flaky.requests[0]!.headers['x-event-id']);
    expect(flaky.requests[1]!.body).toBe(flaky.requests[0]!.body);
  });

  /** A running batch of `n` items, every one triggered, then completed one by one in index order: `n` ExecutionCompleted events. */
  const completeAll = async (module: TestingModule, n: number): Promise<string> => {
    const batchId = await createBatch(module, {
      workflowId: 'wf',
      items: Array.from({ length: n }, (_, i) => ({ inputs: { n: i } })),
      maxConcurrent: n,
    });
    await run(module, batchId, { type: 'TriggerDueExecutions', batchId, now: new Date(), limit: n });
    for (let index = 0; index < n; index++) {
      await run(module, batchId, { type: 'RecordExecutionCompleted', batchId, index, output: { index }, attempts: 1, now: new Date() });
    }
    return batchId;
  };

  it('a hanging receiver delays only its own deliveries: a healthy one gets all 20 events at once, in order, while the other is retried', async () => {
    const module = await boot({ baseDelayMs: 100, maxAttempts: 5, timeoutMs: 2500 });
    const silent = await receiver(() => 'hang');
    const healthy = await receiver();
    const hanging = await register(module, silent.url, ['execution.completed']);
    await register(module, healthy.url, ['execution.completed']);

    const started = Date.now();
    const batchId = await completeAll(module, 20);
    await until(() => healthy.requests.length === 20, 3000);
    // Well before the hanging receiver's first attempt can even time out.
    expect(Date.now() - started).toBeLessThan(2500);
    expect(healthy.requests.map((request) => request.payload.executionId)).toEqual(Array.from({ length: 20 }, (_, i) => `${batchId}.${i}`));
    expect(silent.requests).toHaveLength(1);
    expect(await attemptsOf(module, hanging.id)).toEqual([]);

    // Its first event is retried, and holds back the rest of the batch for that receiver only.
    await until(async () => (await attemptsOf(module, hanging.id)).length === 2, 10_000);
    const attempts = await attemptsOf(module, hanging.id);
    expect(attempts.map((attempt) => [attempt.attempt, attempt.executionId, attempt.delivered, attempt.error])).toEqual([
      [2, `${batchId}.0`, false, 'timed out after 2500 ms'],
      [1, `${batchId}.0`, false, 'timed out after 2500 ms'],
    ]);
    expect(attempts.every((attempt) => attempt.nextAttemptAt !== null)).toBe(true);
    expect(new Set(silent.requests.map((request) => request.payload.executionId))).toEqual(new Set([`${batchId}.0`]));
    expect(module.get(DeliveryQueue).size(hanging.id)).toBe(20);
    expect(healthy.requests).toHaveLength(20);
  }, 15_000);

  it('a delivery waiting for its retry holds back the later events of its batch to that webhook, and nothing else', async () => {
    const module = await boot({ baseDelayMs: 1500, maxAttempts: 3 });
    // The very first request (batch A's start) fails; everything after succeeds.
    const flaky = await receiver((request) => (request === 1 ? 500 : 200));
    const webhook = await register(module, flaky.url, ['batch.started', 'batch.paused']);
    const ofA = await createBatch(module, { workflowId: 'wf', items: [{ inputs: {} }] });
    await until(() => flaky.requests.length === 1);
    await run(module, ofA, { type: 'PauseBatch', batchId: ofA, now: new Date(), actor: 'ops' });
    const ofB = await createBatch(module, { workflowId: 'wf', items: [{ inputs: {} }] });
    await run(module, ofB, { type: 'PauseBatch', batchId: ofB, now: new Date(), actor: 'ops' });

    // Batch B flows while A waits out its 1.5 s backoff.
    await until(() => flaky.requests.length === 3, 1000);
    await until(() => flaky.requests.length === 5, 4000);
    expect(flaky.requests.map((request) => [request.payload.type, request.payload.batchId])).toEqual([
      ['batch.started', ofA],
      ['batch.started', ofB],
      ['batch.paused', ofB],
      ['batch.started', ofA],
      ['batch.paused', ofA],
    ]);
    // An attempt is recorded once its answer is in, so the receiver can have the fifth request before its record exists.
    await until(async () => (await attemptsOf(module, webhook.id)).length === 5, 2000);
    const attempts = [...(await attemptsOf(module, webhook.id))].reverse();
    expect(attempts.map((attempt) => [attempt.eventType, attempt.batchId, attempt.attempt, attempt.statusCode])).toEqual([
      ['batch.started', ofA, 1, 500],
      ['batch.started', ofB, 1, 200],
      ['batch.paused', ofB, 1, 200],
      ['batch.started', ofA, 2, 200],
      ['batch.paused', ofA, 1, 200],
    ]);
    // A's pause went only after A's start was delivered, at the announced retry time.
    expect(Date.parse(attempts[3]!.occurredAt)).toBeGreaterThanOrEqual(Date.parse(attempts[0]!.nextAttemptAt!));
  });

  it('bounds the attempts in flight per webhook and overall', async () => {
    const module = await boot({ baseDelayMs: 10, timeoutMs: 30_000, webhookConcurrency: 2, deliveryConcurrency: 3 });
    const silentA = await receiver(() => 'hang');
    const silentB = await receiver(() => 'hang');
    await register(module, silentA.url, ['batch.started']);
    await register(module, silentB.url, ['batch.started']);
    for (let i = 0; i < 4; i++) await createBatch(module, { workflowId: 'wf', items: [{ inputs: {} }] });

    await until(() => silentA.requests.length + silentB.requests.length === 3);
    // Nothing more starts while the three hang.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(silentA.requests.length + silentB.requests.length).toBe(3);
    expect(Math.max(silentA.requests.length, silentB.requests.length)).toBe(2);
    expect(module.get(DeliveryQueue).size()).toBe(8);
  });

  it('a webhook at its bound does not hold back the others', async () => {
    const module = await boot({ baseDelayMs: 10, timeoutMs: 30_000, webhookConcurrency: 2 });
    const silent = await receiver(() => 'hang');
    const healthy = await receiver();
    await register(module, silent.url, ['batch.started']);
    await register(module, healthy.url, ['batch.started']);
    const batchIds = [];
    for (let i = 0; i < 5; i++) batchIds.push(await createBatch(module, { workflowId: 'wf', items: [{ inputs: {} }] }));

    await until(() => healthy.requests.length === 5);
    expect(new Set(healthy.requests.map((request) => request.payload.batchId))).toEqual(new Set(batchIds));
    expect(silent.requests).toHaveLength(2);
  });

  it('queued deliveries survive a restart: a retry that was waiting is made after it, under the same delivery, counting on', async () => {
    const first = await boot({ baseDelayMs: 1000, maxAttempts: 3 });
    const flaky = await receiver((request) => (request === 1 ? 503 : 200));
    const webhook = await register(first, flaky.url, ['batch.started', 'batch.paused']);
    const batchId = await createBatch(first, { workflowId: 'wf', items: [{ inputs: {} }] });
    await run(first, batchId, { type: 'PauseBatch', batchId, now: new Date(), actor: 'ops' });
    await until(async () => (await attemptsOf(first, webhook.id)).length === 1);
    await until(() => first.get(DeliveryQueue).size() === 2);
    await first.close();
    app = null;
    expect(flaky.requests).toHaveLength(1);

    const second = await boot({ baseDelayMs: 1000, maxAttempts: 3 });
    await until(async () => (await attemptsOf(second, webhook.id)).length === 3);
    const attempts = [...(await attemptsOf(second, webhook.id))].reverse();
    expect(attempts.map((attempt) => [attempt.eventType, attempt.attempt, attempt.statusCode, attempt.delivered])).toEqual([
      ['batch.started', 1, 503, false],
      ['batch.started', 2, 200, true],
      ['batch.paused', 1, 200, true],
    ]);
    expect(attempts[1]!.deliveryId).toBe(attempts[0]!.deliveryId);
    expect(Date.parse(attempts[1]!.occurredAt)).toBeGreaterThanOrEqual(Date.parse(attempts[0]!.nextAttemptAt!));
    expect(flaky.requests.map((request) => request.payload.type)).toEqual(['batch.started', 'batch.started', 'batch.paused']);
    expect(flaky.requests[1]!.body).toBe(flaky.requests[0]!.body);
    // The log records the last attempt just before the queue lets the delivery go: wait for that step.
    await until(() => second.get(DeliveryQueue).size() === 0);
  });

  it('a message redelivered after its deliveries were made enqueues nothing again', async () => {
    const first = await boot();
    const hooks = await receiver();
    await register(first, hooks.url, ['batch.started', 'batch.paused']);
    const batchId = await createBatch(first, { workflowId: 'wf', items: [{ inputs: {} }] });
    await until(() => hooks.requests.length === 1 && first.get(DeliveryQueue).size() === 0);
    await first.close();
    app = null;
    // As if the process had died after enqueueing but before the transport stored its checkpoint: everything is redelivered.
    const state = new DatabaseSync(loadConfig({ DATA_DIR: dir }).stateDbPath);
    expect(Number(state.prepare('DELETE FROM consumer_checkpoints').run().changes)).toBeGreaterThan(0);
    state.close();

    const second = await boot();
    await run(second, batchId, { type: 'PauseBatch', batchId, now: new Date(), actor: 'ops' });
    // The pause comes after the redelivered start in the batch's order: once it is sent, the start was handled again.
    await until(() => hooks.requests.length === 2 && second.get(DeliveryQueue).size() === 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(hooks.requests.map((request) => request.payload.type)).toEqual(['batch.started', 'batch.paused']);
  });
});
