import { callbackTokenOf, loadConfig, systemClock, type PlatformConfig } from '@flotilla/platform';
import { batchEvents, type ExecutionTriggered, type RetryPolicy, type WorkflowLimits, type WorkflowTarget } from '@flotilla/domain';
import { readMessage, toMessage, type TypedMessage } from '@flotilla/messaging';
import type { Subscription } from '@flotilla/event-store';
import { CallSlots } from './call-slots';
import { ExecutionDispatcher, ROOM_STALL_MS } from './execution-dispatcher';
import { TRIGGER_LIMIT, WaveTrigger } from './wave-trigger';
import { ExecutionWorld, TargetServer, refusingUrl, type Reply } from './execution.fixtures';
import { OutcomeWriter, type OutcomeCommand } from './outcome-writer';
import { ParkedBatches } from './parked-batches';
import { HeldBatches } from './held-batches';
import { StateDb } from '@flotilla/state';
import { join } from 'node:path';
import { TargetClient } from './target-client';
import { WorkflowThrottle } from './workflow-throttle';
import { until } from '@flotilla/testing/poll';

const PUBLIC_URL = 'http://flotilla.test:3000';

describe('ExecutionDispatcher', () => {
  let world: ExecutionWorld;
  let client: TargetClient;
  let dispatcher: ExecutionDispatcher;
  let target: TargetServer | undefined;
  let config: PlatformConfig;

  const dispatcherWith = (maxResponseBytes?: number, slots = new CallSlots(16)): ExecutionDispatcher => {
    client?.close();
    client = new TargetClient({ maxSocketsPerOrigin: 16, ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }) });
    config = loadConfig({ DATA_DIR: world.directory, PUBLIC_URL });
    return new ExecutionDispatcher(
      world.batches,
      world.workflows,
      world.items,
      client,
      new OutcomeWriter(world.batches),
      slots,
      new WorkflowThrottle(),
      systemClock,
      config,
    );
  };

  beforeEach(() => {
    world = ExecutionWorld.open();
    dispatcher = dispatcherWith();
  });
  afterEach(async () => {
    dispatcher.stop();
    client.close();
    await target?.close();
    target = undefined;
    await world.close();
  });

  /** A batch of one execution against a target that answers with `reply`; returns its ExecutionTriggered message. */
  const oneExecution = async (
    reply: (n: number) => Reply,
    setup: { target?: Partial<WorkflowTarget>; retry?: Partial<RetryPolicy>; limits?: WorkflowLimits } = {},
  ): Promise<TypedMessage<ExecutionTriggered>> => {
    target = await TargetServer.start((_call, n) => reply(n));
    await world.createBatch({
      batchId: 'bat_one',
      target: { ...setup.target, url: target.url },
      ...(setup.retry ? { retry: setup.retry } : {}),
      ...(setup.limits ? { limits: setup.limits } : {}),
    });
    const [message] = await world.trigger('bat_one');
    return message!;
  };
  /** What the executor recorded: the execution events after the trigger. */
  /** What the executor decided about executions; ExecutionCallsStarted only says when the calls began (callsStartedOf). */
  const outcomesOf = async (batchId: string) =>
    (await world.events(batchId)).filter(
      (event) => event.type.startsWith('Execution') && event.type !== 'ExecutionTriggered' && event.type !== 'ExecutionCallsStarted',
    );
  const callsStartedOf = async (batchId: string) =>
    (await world.events(batchId)).filter((event) => event.type === 'ExecutionCallsStarted').map((event) => event.data);
  const outcomes = () => outcomesOf('bat_one');

  it('sync 200: records the body as the output, after one call carrying the execution id as Idempotency-Key', async () => {
    const message = await oneExecution(() => ({ status: 200, body: '{"answer":42}', headers: { 'Content-Type': 'application/json' } }));
    await dispatcher.handle(message);

    expect(await outcomes()).toEqual([
      {
        type: 'ExecutionCompleted',
        data: expect.objectContaining({ executionId: 'bat_one.0', index: 0, output: { answer: 42 }, attempts: 1 }),
      },
    ]);
    expect(target!.calls).toHaveLength(1);
    expect(target!.calls[0]!.headers['idempotency-key']).toBe('bat_one.0');
    expect(target!.calls[0]!.headers['content-type']).toBe('application/json');
  });

  it('keeps a non-JSON body as text and an empty one as null', async () => {
    const message = await oneExecution(() => ({ status: 200, body: 'plain words' }));
    await dispatcher.handle(message);
    expect((await outcomes())[0]?.data['output']).toBe('plain words');

    const emptyTarget = await TargetServer.start(() => ({ status: 204 }));
    try {
      await world.createBatch({ batchId: 'bat_204', target: { url: emptyTarget.url } });
      const [noContent] = await world.trigger('bat_204');
      await dispatcher.handle(noContent!);
      expect(await outcomesOf('bat_204')).toEqual([{ type: 'ExecutionCompleted', data: expect.objectContaining({ output: null }) }]);
    } finally {
      await emptyTarget.close();
    }
  });

  it('503 twice then 200: two failed attempts recorded, then completed with attempts 3', async () => {
    const message = await oneExecution((n) => (n < 2 ? { status: 503 } : { status: 200, body: '"done"' }));
    await dispatcher.handle(message);

    const events = await outcomes();
    expect(events.map((event) => event.type)).toEqual(['ExecutionAttemptFailed', 'ExecutionAttemptFailed', 'ExecutionCompleted']);
    expect(events[0]!.data).toMatchObject({ attempt: 1, error: 'HTTP 503 Service Unavailable', statusCode: 503 });
    expect(events[1]!.data).toMatchObject({ attempt: 2, error: 'HTTP 503 Service Unavailable', statusCode: 503 });
    expect(events[2]!.data).toMatchObject({ output: 'done', attempts: 3 });
    expect(target!.calls.map((call) => call.body.attempt)).toEqual([1, 2, 3]);
    // Every attempt of one execution carries the same key, so the target can deduplicate.
    expect(new Set(target!.calls.map((call) => call.headers['idempotency-key']))).toEqual(new Set(['bat_one.0']));
  });

  it('429 with Retry-After: 1 waits at least a second, uses up no attempt, and records one throttle pair, not the 429', async () => {
    const message = await oneExecution((n) => (n === 0 ? { status: 429, headers: { 'Retry-After': '1' } } : { status: 200, body: '1' }), {
      retry: { backoffMs: 1, maxAttempts: 1 },
    });
    await dispatcher.handle(message);

    const events = (await world.events('bat_one')).filter(
      (event) => (event.type !== 'ExecutionTriggered' && event.type.includes('Execution')) || event.type.startsWith('BatchThrottle'),
    );
    expect(events.map((event) => event.type)).toEqual([
      'ExecutionCallsStarted',
      'BatchThrottled',
      'BatchThrottleLifted',
      'ExecutionCompleted',
    ]);
    const [, throttled, , completed] = events;
    expect(Date.parse(throttled!.data['until'] as string) - Date.parse(throttled!.data['occurredAt'] as string)).toBe(1000);
    expect(throttled!.data['workflowId']).toBe('wf-bat_one');
    // maxAttempts 1, yet the call after the 429 was made: attempts counts both calls.
    expect(completed).toMatchObject({ type: 'ExecutionCompleted', data: { attempts: 2 } });
    expect(target!.calls.map((call) => call.body.attempt)).toEqual([1, 2]);
    expect(target!.calls[1]!.at - target!.calls[0]!.at).toBeGreaterThanOrEqual(1000);
  });

  it('429s and other failures: only the others count against maxAttempts', async () => {
    const replies: Reply[] = [
      { status: 503 },
      { status: 429, headers: { 'Retry-After': '0' } },
      { status: 429 },
      { status: 200, body: '"ok"' },
    ];
    const message = await oneExecution((n) => replies[n] ?? { status: 500 }, { retry: { backoffMs: 1, maxAttempts: 2 } });
    await dispatcher.handle(message);

    const events = await outcomes();
    expect(events.map((event) => event.type)).toEqual(['ExecutionAttemptFailed', 'ExecutionCompleted']);
    expect(events[0]!.data).toMatchObject({ attempt: 1, statusCode: 503 });
    expect(events[1]!.data).toMatchObject({ output: 'ok', attempts: 4 });
  });

  it('fails after retry.maxThrottleSeconds of continuous 429s, saying so, with attempts counting every call', async () => {
    // No Retry-After: the throttle backs off exponentially, so the second of throttling takes a few calls.
    const message = await oneExecution(() => ({ status: 429 }), {
      retry: { backoffMs: 1, maxAttempts: 1, maxThrottleSeconds: 1 },
    });
    await dispatcher.handle(message);

    const events = (await world.events('bat_one')).filter(
      (event) => event.type.startsWith('Execution') || event.type.startsWith('BatchThrottle'),
    );
    const types = events.map((event) => event.type);
    expect(types.filter((type) => type !== 'ExecutionTriggered')).toEqual(['ExecutionCallsStarted', 'BatchThrottled', 'ExecutionFailed']);
    expect(events.at(-1)!.data).toMatchObject({
      error: 'throttled by the target (HTTP 429) for 1 s without a successful call',
      statusCode: 429,
      attempts: target!.calls.length,
    });
    expect(target!.calls.length).toBeGreaterThan(1);
    expect(target!.calls.length).toBeLessThan(20);
  });

  it('an episode recorded before a restart is lifted by the first answer that is not a 429', async () => {
    const message = await oneExecution(() => ({ status: 200, body: '"ok"' }));
    // As a process that stopped mid-storm left it: the batch throttled, the execution's message redelivered.
    await world.batches.handle('bat_one', { type: 'RecordThrottled', batchId: 'bat_one', until: new Date(), now: new Date() });
    await dispatcher.handle(message);

    const types = (await world.events('bat_one')).map((event) => event.type).filter((type) => type.startsWith('BatchThrottle'));
    expect(types).toEqual(['BatchThrottled', 'BatchThrottleLifted']);
  });

  it('400 fails at once with attempts 1', async () => {
    const message = await oneExecution(() => ({ status: 400, body: '{"error":"bad input"}' }));
    await dispatcher.handle(message);

    expect(await outcomes()).toEqual([
      { type: 'ExecutionFailed', data: expect.objectContaining({ error: 'HTTP 400 Bad Request', statusCode: 400, attempts: 1 }) },
    ]);
    expect(target!.calls).toHaveLength(1);
  });

  it('500 forever with maxAttempts 2: one failed attempt, then failed with attempts 2', async () => {
    const message = await oneExecution(() => ({ status: 500 }), { retry: { maxAttempts: 2 } });
    await dispatcher.handle(message);

    const events = await outcomes();
    expect(events.map((event) => event.type)).toEqual(['ExecutionAttemptFailed', 'ExecutionFailed']);
    expect(events[1]!.data).toMatchObject({ error: 'HTTP 500 Internal Server Error', statusCode: 500, attempts: 2 });
    expect(target!.calls).toHaveLength(2);
  });

  it('a target slower than its timeout is retried, then failed', async () => {
    const message = await oneExecution(() => ({ status: 200, body: 'late', delayMs: 2000 }), {
      target: { timeoutMs: 100 },
      retry: { maxAttempts: 2 },
    });
    const started = Date.now();
    await dispatcher.handle(message);

    expect(Date.now() - started).toBeLessThan(1500);
    const events = await outcomes();
    expect(events.map((event) => event.type)).toEqual(['ExecutionAttemptFailed', 'ExecutionFailed']);
    expect(events[0]!.data).toMatchObject({ attempt: 1, error: 'timed out after 100 ms' });
    expect(events[0]!.data).not.toHaveProperty('statusCode');
    expect(events[1]!.data).toMatchObject({ error: 'timed out after 100 ms', attempts: 2 });
    expect(target!.calls).toHaveLength(2);
  });

  it('a refused connection is retried, then failed', async () => {
    await world.createBatch({ batchId: 'bat_refused', target: { url: await refusingUrl() }, retry: { maxAttempts: 2 } });
    const [message] = await world.trigger('bat_refused');
    await dispatcher.handle(message!);

    const events = await outcomesOf('bat_refused');
    expect(events).toEqual([
      { type: 'ExecutionAttemptFailed', data: expect.objectContaining({ attempt: 1, error: 'connection refused (ECONNREFUSED)' }) },
      { type: 'ExecutionFailed', data: expect.objectContaining({ error: 'connection refused (ECONNREFUSED)', attempts: 2 }) },
    ]);
  });

  it('fails at once when the response is larger than the client keeps', async () => {
    dispatcher = dispatcherWith(1024);
    const message = await oneExecution(() => ({ status: 200, body: 'x'.repeat(5000) }));
    await dispatcher.handle(message);

    expect(await outcomes()).toEqual([
      { type: 'ExecutionFailed', data: expect.objectContaining({ error: 'response body exceeds 1024 bytes', attempts: 1 }) },
    ]);
  });

  it('fails an execution whose workflow version does not exist, without calling anything', async () => {
    target = await TargetServer.start(() => ({ status: 200 }));
    await world.createBatch({ batchId: 'bat_nover', target: { url: target.url }, workflowVersion: 2 });
    const [message] = await world.trigger('bat_nover');
    await dispatcher.handle(message!);

    expect(await outcomesOf('bat_nover')).toEqual([
      { type: 'ExecutionFailed', data: expect.objectContaining({ error: 'workflow wf-bat_nover has no version 2', attempts: 0 }) },
    ]);
    expect(target.calls).toHaveLength(0);
  });

  it('async 202: records the acceptance and no outcome, with the callback deadline callbackTimeoutMs away', async () => {
    const message = await oneExecution(() => ({ status: 202 }), {
      target: { mode: 'async', timeoutMs: 1000, callbackTimeoutMs: 7_200_000 },
    });
    await dispatcher.handle(message);

    const events = await outcomes();
    expect(events).toEqual([{ type: 'ExecutionAccepted', data: expect.objectContaining({ executionId: 'bat_one.0', attempt: 1 }) }]);
    expect(Date.parse(events[0]!.data['deadline'] as string) - Date.parse(events[0]!.data['occurredAt'] as string)).toBe(7_200_000);
    expect(target!.calls[0]!.body.callbackToken).toBe(callbackTokenOf(config.callbackSecret, 'bat_one.0'));
  });

  it('a redelivered ExecutionTriggered of an accepted async execution does not call the target again', async () => {
    const message = await oneExecution(() => ({ status: 202 }), { target: { mode: 'async' } });
    await dispatcher.handle(message);
    await dispatcher.handle(message);
    await dispatcherWith().handle(message);

    expect(target!.calls).toHaveLength(1);
    expect((await outcomes()).map((event) => event.type)).toEqual(['ExecutionAccepted']);
  });

  it("holds a workflow's calls to its limits.maxInFlight", async () => {
    target = await TargetServer.start(() => ({ status: 200, body: '1', delayMs: 150 }));
    await world.createBatch({
      batchId: 'bat_limit',
      target: { url: target.url },
      limits: { maxInFlight: 2 },
      items: Array.from({ length: 6 }, (_, n) => ({ inputs: { n: String(n) } })),
    });
    await Promise.all((await world.trigger('bat_limit')).map((message) => dispatcher.handle(message)));

    expect((await outcomesOf('bat_limit')).filter((event) => event.type === 'ExecutionCompleted')).toHaveLength(6);
    expect(target.open.max).toBe(2);
  });

  it("a retry's backoff wait holds no call slot", async () => {
    // One slot in all: the second execution is called while the first waits for its retry.
    dispatcher = dispatcherWith(undefined, new CallSlots(1));
    target = await TargetServer.start((call) =>
      call.body.executionId === 'bat_wait.0' && call.body.attempt === 1
        ? { status: 503, headers: { 'Retry-After': '1' } }
        : { status: 200, body: '1' },
    );
    await world.createBatch({ batchId: 'bat_wait', target: { url: target.url }, items: [{ inputs: { n: '0' } }, { inputs: { n: '1' } }] });
    const [first, second] = await world.trigger('bat_wait');
    const firstDone = dispatcher.handle(first!);
    await until(() => target!.calls.length === 1);
    await dispatcher.handle(second!);
    await firstDone;

    const order = target.calls.map((call) => `${call.body.executionId}#${call.body.attempt}`);
    expect(order).toEqual(['bat_wait.0#1', 'bat_wait.1#1', 'bat_wait.0#2']);
    expect(target.calls[2]!.at - target.calls[1]!.at).toBeGreaterThan(500);
  });

  it('reads an item only once the execution holds a call slot, and calls once a delivery that waited behind another of it', async () => {
    const slots = new CallSlots(1);
    dispatcher = dispatcherWith(undefined, slots);
    // The first call stays open a while: meanwhile every other delivery waits for the one slot.
    target = await TargetServer.start((_call, n) => ({ status: 200, body: '1', ...(n === 0 ? { delayMs: 400 } : {}) }));
    await world.createBatch({
      batchId: 'bat_queue',
      target: { url: target.url },
      items: Array.from({ length: 5 }, (_, n) => ({ inputs: { n: String(n) } })),
    });
    const messages = await world.trigger('bat_queue');
    const reads: number[] = [];
    const get = world.items.get.bind(world.items);
    world.items.get = (items, index) => (reads.push(index), get(items, index));
    // The first execution is delivered twice (a redelivery while the first delivery waits).
    const handled = [...messages, messages[0]!].map((message) => dispatcher.handle(message));
    await until(() => target!.calls.length === 1);
    // Four wait for the slot; the second delivery of the first waits for that one's end instead.
    expect(slots.waitingOf()).toBe(4);
    expect(reads).toEqual([0]);
    await Promise.all(handled);

    expect(target.calls.map((call) => call.body.executionId).sort()).toEqual([0, 1, 2, 3, 4].map((n) => `bat_queue.${n}`));
    expect(reads).toEqual([0, 1, 2, 3, 4]);
  });

  it('records when the first call started, before the outcome, and not again for a retry', async () => {
    const message = await oneExecution((n) => (n === 0 ? { status: 503 } : { status: 200, body: '1' }), { retry: { backoffMs: 1 } });
    const before = Date.now();
    await dispatcher.handle(message);
    const events = (await world.events('bat_one'))
      .map((event) => event.type)
      .filter((type) => type.startsWith('Execution') && type !== 'ExecutionTriggered');
    expect(events).toEqual(['ExecutionCallsStarted', 'ExecutionAttemptFailed', 'ExecutionCompleted']);
    const [started] = await callsStartedOf('bat_one');
    expect(started).toMatchObject({ indexes: [0] });
    expect(Date.parse(started!['at'] as string)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(started!['at'] as string)).toBeLessThanOrEqual(target!.calls[0]!.at + 1);
  });

  it('a redelivered ExecutionTriggered whose execution has an outcome does not call the target again', async () => {
    const message = await oneExecution(() => ({ status: 200, body: '1' }));
    await dispatcher.handle(message);
    await dispatcher.handle(message);
    // A fresh process (cold caches) behaves the same.
    await dispatcherWith().handle(message);

    expect(target!.calls).toHaveLength(1);
    expect((await outcomes()).map((event) => event.type)).toEqual(['ExecutionCompleted']);
  });

  it('stopping ends a retry wait at once, leaving the message unacknowledged and nothing more recorded', async () => {
    const message = await oneExecution(() => ({ status: 503, headers: { 'Retry-After': '60' } }));
    const handled = dispatcher.handle(message);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (target!.calls.length > 0) resolve(void clearInterval(poll));
      }, 5);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    dispatcher.stop();

    await expect(handled).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(500);
    expect((await outcomes()).map((event) => event.type)).toEqual(['ExecutionAttemptFailed']);
  });

  it('with a delivery: defers the message and returns while the execution waits for a slot; settles it done once its outcome is recorded', async () => {
    const slots = new CallSlots(1);
    dispatcher.stop();
    dispatcher = dispatcherWith(undefined, slots);
    target = await TargetServer.start(() => ({ status: 200, body: '"ok"', delayMs: 300 }));
    await world.createBatch({ batchId: 'bat_defer', target: { url: target.url }, items: [{ inputs: {} }, { inputs: {} }] });
    const messages = await world.trigger('bat_defer');
    const settled: string[] = [];
    for (const [n, message] of messages.entries()) {
      // Returns at once: the message is the dispatcher's to settle.
      await dispatcher.handle(message, { defer: () => (outcome) => void settled.push(`${n} ${outcome}`) });
    }
    expect(settled).toEqual([]);
    expect(slots.waitingOf()).toBe(1);
    await until(() => settled.length === 2, 10_000, 'both settled');
    expect(settled.sort()).toEqual(['0 done', '1 done']);
    expect((await outcomesOf('bat_defer')).map((event) => event.type)).toEqual(['ExecutionCompleted', 'ExecutionCompleted']);
  });

  it('with a delivery: stopping settles the waiting and the calling messages failed, recording nothing', async () => {
    const slots = new CallSlots(1);
    dispatcher.stop();
    dispatcher = dispatcherWith(undefined, slots);
    target = await TargetServer.start(() => ({ status: 200, delayMs: 60_000 }));
    await world.createBatch({ batchId: 'bat_stop', target: { url: target.url }, items: [{ inputs: {} }, { inputs: {} }] });
    const settled: string[] = [];
    for (const [n, message] of (await world.trigger('bat_stop')).entries()) {
      await dispatcher.handle(message, { defer: () => (outcome) => void settled.push(`${n} ${outcome}`) });
    }
    await until(() => target!.calls.length === 1, 10_000, 'the first call');
    dispatcher.stop();
    await until(() => settled.length === 2, 10_000, 'both settled');
    expect(settled.sort()).toEqual(['0 failed', '1 failed']);
    expect(await outcomesOf('bat_stop')).toEqual([]);
  });

  it('with a delivery: a second delivery of an execution in line is deferred too and settled with the first', async () => {
    const slots = new CallSlots(1);
    dispatcher.stop();
    dispatcher = dispatcherWith(undefined, slots);
    target = await TargetServer.start(() => ({ status: 200, delayMs: 200 }));
    await world.createBatch({ batchId: 'bat_twice', target: { url: target.url } });
    const [message] = await world.trigger('bat_twice');
    const settled: string[] = [];
    await dispatcher.handle(message!, { defer: () => (outcome) => void settled.push(`first ${outcome}`) });
    await dispatcher.handle(message!, { defer: () => (outcome) => void settled.push(`second ${outcome}`) });
    await until(() => settled.length === 2, 10_000, 'both settled');
    expect(settled).toEqual(['first done', 'second done']);
    expect(target.calls).toHaveLength(1);
  });

  it('firstCallsOut waits for the executions being checked here until their first call has gone out', async () => {
    const message = await oneExecution(() => ({ status: 200, body: '"ok"' }));
    const order: string[] = [];
    const call = client.call.bind(client);
    client.call = (request, signal) => (order.push('call'), call(request, signal));

    const done = dispatcher.handle(message, { defer: () => () => order.push('settled') });
    // Asked while the execution's batch state is being read: resolved once its call is out, not before.
    await dispatcher.firstCallsOut('bat_one');
    order.push('out');
    await done;
    await until(() => order.includes('settled'));

    expect(order).toEqual(['call', 'out', 'settled']);
    // Nothing of the batch is on its way to a call any more: resolved at once.
    await expect(dispatcher.firstCallsOut('bat_one')).resolves.toBeUndefined();
    await expect(dispatcher.firstCallsOut('bat_unknown')).resolves.toBeUndefined();
  });

  it('firstCallsOut does not wait for an execution waiting in line for a slot', async () => {
    // One slot, taken by the first execution's call, which the target keeps open.
    dispatcher.stop();
    dispatcher = dispatcherWith(undefined, new CallSlots(1));
    target = await TargetServer.start((_call, n) => ({ status: 200, body: '"ok"', ...(n === 0 ? { delayMs: 60_000 } : {}) }));
    await world.createBatch({ batchId: 'bat_line', target: { url: target.url }, items: [{ inputs: {} }, { inputs: {} }] });
    const [first, second] = await world.trigger('bat_line');
    const calls: string[] = [];
    const call = client.call.bind(client);
    client.call = (request, signal) => (calls.push(request.idempotencyKey), call(request, signal));
    const deferred = { defer: () => () => undefined };

    await dispatcher.handle(first!, deferred);
    await dispatcher.firstCallsOut('bat_line');
    await dispatcher.handle(second!, deferred);
    // The second waits for the slot: that is no reason to wait for it.
    await dispatcher.firstCallsOut('bat_line');

    expect(calls).toEqual(['bat_line.0']);
    expect(dispatcher.queuedOf('bat_line')).toEqual({ inLine: 2, parked: 0 });
  });

  it("a paced batch's waves delivered late and together are called an interval apart, less the slack; a burst batch's at once", async () => {
    target = await TargetServer.start(() => ({ status: 200, body: '"ok"' }));
    const items = Array.from({ length: 6 }, (_, n) => ({ inputs: { n: String(n) } }));
    const waves = { maxConcurrent: 2, batchIntervalSeconds: 0.5 };
    await world.createBatch({ batchId: 'bat_paced', target: { url: target.url }, items, waves });
    await world.createBatch({ batchId: 'bat_burst', target: { url: target.url }, items, waves, catchUp: 'burst' });
    // Three waves each, planned 500 ms apart, triggered on time but delivered only now, all together.
    const asOf = new Date(Date.now() + 1100);
    const messages = [...(await world.trigger('bat_paced', asOf)), ...(await world.trigger('bat_burst', asOf))];
    expect(messages.map((message) => message.data.executeAt)).toHaveLength(12);

    await Promise.all(messages.map((message) => dispatcher.handle(message)));

    const startsOf = (batchId: string) =>
      target!.calls
        .filter((call) => call.body.executionId.startsWith(`${batchId}.`))
        .map((call) => call.at)
        .sort((a, b) => a - b);
    const paced = startsOf('bat_paced');
    const burst = startsOf('bat_burst');
    expect([paced.length, burst.length]).toEqual([6, 6]);
    // Each wave's calls start at least the interval less the slack (25 ms) after the wave before:
    // any three consecutive starts span that much. Not much more either: they are on their way.
    const spans = [paced[2]! - paced[0]!, paced[3]! - paced[1]!, paced[4]! - paced[2]!, paced[5]! - paced[3]!];
    expect(spans.filter((span) => span < 500 - 25 - 10)).toEqual([]);
    expect(paced[5]! - paced[0]!).toBeLessThan(1500);
    // catchUp 'burst' asked for its overdue waves at once.
    expect(burst[5]! - burst[0]!).toBeLessThan(300);
  });

  it('with a delivery: a run whose recording throws is checked and tried again after the backoff, then settled done', async () => {
    /** The store refuses the first outcome append, as a full disk or a lost connection would. */
    class FlakyWriter extends OutcomeWriter {
      failures = 1;
      override record(command: OutcomeCommand, bytes = 0): Promise<void> {
        if (command.type === 'RecordExecutionCompleted' && this.failures-- > 0) return Promise.reject(new Error('append failed'));
        return super.record(command, bytes);
      }
    }
    dispatcher.stop();
    client.close();
    client = new TargetClient({ maxSocketsPerOrigin: 4 });
    dispatcher = new ExecutionDispatcher(
      world.batches,
      world.workflows,
      world.items,
      client,
      new FlakyWriter(world.batches),
      new CallSlots(4),
      new WorkflowThrottle(),
      systemClock,
      loadConfig({ DATA_DIR: world.directory, PUBLIC_URL }),
    );
    const message = await oneExecution(() => ({ status: 200, body: '"ok"' }));
    const settled: string[] = [];
    await dispatcher.handle(message, { defer: () => (outcome) => void settled.push(outcome) });
    await until(() => settled.length === 1, 10_000, 'settled');
    expect(settled).toEqual(['done']);
    // Called again (same Idempotency-Key), since the first answer's outcome was never recorded.
    expect(target!.calls).toHaveLength(2);
    expect((await outcomes()).map((event) => event.type)).toEqual(['ExecutionCompleted']);
  });

  describe('past EXECUTOR_BATCH_WINDOW', () => {
    const ITEMS = 30;
    /** A dispatcher over a state file of the world's, parking past a window of `window` per batch, with `slots` call slots. */
    const parkingDispatcher = (window: number, slots = 1): { dispatcher: ExecutionDispatcher; state: StateDb } => {
      const state = new StateDb(join(world.directory, 'executor-state.sqlite'));
      const parkingConfig = loadConfig({ DATA_DIR: world.directory, PUBLIC_URL, EXECUTOR_BATCH_WINDOW: String(window) });
      const made = new ExecutionDispatcher(
        world.batches,
        world.workflows,
        world.items,
        client,
        new OutcomeWriter(world.batches),
        new CallSlots(slots),
        new WorkflowThrottle(),
        systemClock,
        parkingConfig,
        new HeldBatches(),
        new ParkedBatches(state),
      );
      return { dispatcher: made, state };
    };
    const marks = (state: StateDb) => state.all<{ batch_id: string }>('SELECT batch_id FROM parked_batches').map((row) => row.batch_id);
    const completedIndexes = async (batchId: string) =>
      (await outcomesOf(batchId))
        .filter((event) => event.type === 'ExecutionCompleted')
        .map((event) => event.data['index'] as number)
        .sort((a, b) => a - b);

    it('parks the rest of a batch: its messages are acknowledged at once, at most the window is in line, each is called once, in order', async () => {
      dispatcher.stop();
      const parking = parkingDispatcher(4);
      dispatcher = parking.dispatcher;
      target = await TargetServer.start(() => ({ status: 200, body: '"ok"', delayMs: 20 }));
      const items = Array.from({ length: ITEMS }, (_, n) => ({ inputs: { n: String(n) } }));
      await world.createBatch({ batchId: 'bat_park', target: { url: target.url }, items });
      const deferred: number[] = [];
      let mostInLine = 0;
      for (const message of await world.trigger('bat_park')) {
        await dispatcher.handle(message, { defer: () => (deferred.push(message.data.index), () => undefined) });
        mostInLine = Math.max(mostInLine, dispatcher.queuedOf('bat_park').inLine);
      }
      // The first four wait in line as deferred messages; the other 26 were acknowledged (not deferred) and parked.
      expect(deferred).toEqual([0, 1, 2, 3]);
      expect(dispatcher.queuedOf('bat_park').parked).toBe(ITEMS - 4);
      expect(marks(parking.state)).toEqual(['bat_park']);
      // Sampled as they run: the batch never has more than its window in hand.
      await until(
        async () => {
          mostInLine = Math.max(mostInLine, dispatcher.queuedOf('bat_park').inLine);
          return (await completedIndexes('bat_park')).length === ITEMS;
        },
        20_000,
        'every execution completed',
      );
      expect(mostInLine).toBeLessThanOrEqual(4);
      expect(await completedIndexes('bat_park')).toEqual(items.map((_, n) => n));
      // Called once each, lowest index first (one slot: the calls are in the order of the line).
      expect(target.calls.map((call) => call.body.executionId)).toEqual(items.map((_, n) => `bat_park.${n}`));
      await until(() => marks(parking.state).length === 0, 5000, 'the mark removed once none is parked');
      expect(dispatcher.queuedOf('bat_park')).toEqual({ inLine: 0, parked: 0 });
      parking.state.close();
    });

    it('after a restart finds the parked executions from the batch state: none lost, none called twice but the one in flight', async () => {
      dispatcher.stop();
      let phase: 'before' | 'after' = 'before';
      // Before the restart the fourth call hangs, so the process stops with one call in flight.
      target = await TargetServer.start((_call, n) => (phase === 'before' && n === 3 ? { status: 200, delayMs: 60_000 } : { status: 200 }));
      const items = Array.from({ length: ITEMS }, (_, n) => ({ inputs: { n: String(n) } }));
      await world.createBatch({ batchId: 'bat_restart', target: { url: target.url }, items });
      const messages = await world.trigger('bat_restart');
      const first = parkingDispatcher(4);
      const unacknowledged: number[] = [];
      for (const message of messages)
        await first.dispatcher.handle(message, {
          defer: () => (outcome) => void (outcome === 'failed' && unacknowledged.push(message.data.index)),
        });
      await until(() => target!.calls.length === 4, 10_000, 'the fourth call, which hangs');
      first.dispatcher.stop();
      first.state.close();
      await until(() => unacknowledged.length > 0, 5000, 'the waiting messages settled failed');

      phase = 'after';
      const second = parkingDispatcher(4);
      dispatcher = second.dispatcher;
      expect(marks(second.state)).toEqual(['bat_restart']);
      await dispatcher.recoverParked();
      // The transport delivers the unacknowledged messages again; the parked ones have none.
      for (const message of messages.filter((m) => unacknowledged.includes(m.data.index)))
        await dispatcher.handle(message, { defer: () => () => undefined });
      await until(async () => (await completedIndexes('bat_restart')).length === ITEMS, 20_000, 'every execution completed');
      expect(await completedIndexes('bat_restart')).toEqual(items.map((_, n) => n));
      const callsOf = (n: number) => target!.calls.filter((call) => call.body.executionId === `bat_restart.${n}`).length;
      // The one in flight when the process stopped is called again (at least once per attempt, under its Idempotency-Key); every other once.
      const hung = target.calls[3]!.body.executionId;
      for (let n = 0; n < ITEMS; n++) expect([n, callsOf(n)]).toEqual([n, `bat_restart.${n}` === hung ? 2 : 1]);
      await until(() => marks(second.state).length === 0, 5000, 'the mark removed');
      second.state.close();
    });

    describe('the wave trigger waits for room (ExecutionDispatcher.roomFor)', () => {
      const WINDOW = 600;
      const ITEMS = 8 * TRIGGER_LIMIT;
      let subscription: Subscription | undefined;
      let state: StateDb | undefined;
      /** The deliveries to the dispatcher not settled yet: each reads the store, so the world closes only after them. */
      const delivering = new Set<Promise<void>>();
      afterEach(async () => {
        await subscription?.stop();
        subscription = undefined;
        await Promise.allSettled(delivering);
        delivering.clear();
        state?.close();
        state = undefined;
      });

      /**
       * One batch of ITEMS at interval 0 (every wave due at once), a dispatcher parking past WINDOW
       * with 16 call slots, and the batch's ExecutionTriggered messages delivered to it as they are
       * appended, as the transport does. Counts, as the store delivers them, how far the triggers run
       * ahead of the outcomes.
       */
      const interval0Batch = async (batchId: string, reply: Reply) => {
        dispatcher.stop();
        const parking = parkingDispatcher(WINDOW, 16);
        dispatcher = parking.dispatcher;
        state = parking.state;
        target = await TargetServer.start(() => reply);
        await world.createBatch({
          batchId,
          // A call that hangs is not timed out (and retried) during the test.
          target: { url: target.url, timeoutMs: 120_000 },
          items: Array.from({ length: ITEMS }, (_, n) => ({ inputs: { n: String(n) } })),
        });
        await world.batches.handle(batchId, { type: 'DeclareDueWaves', batchId, now: new Date() });
        const waveDue = (await world.stored(batchId)).find((event) => event.type === 'WaveDue')!;
        const seen = { triggered: 0, finished: 0, mostAhead: 0 };
        const triggeredType = batchEvents.subset('ExecutionTriggered');
        const here = dispatcher;
        subscription = world.store.subscribeToAll(
          { after: 'start', filter: { eventTypes: ['ExecutionTriggered', 'ExecutionCompleted'] } },
          {
            onEvents: (events) => {
              for (const event of events) {
                if (event.type === 'ExecutionCompleted') {
                  seen.finished++;
                  continue;
                }
                seen.triggered++;
                seen.mostAhead = Math.max(seen.mostAhead, seen.triggered - seen.finished);
                const delivered = here.handle(readMessage(triggeredType, toMessage(event))!, { defer: () => () => undefined });
                delivering.add(delivered);
                // A check that throws (the executor stopped in the middle of it) is the transport's to retry, as in the product.
                delivered.then(
                  () => delivering.delete(delivered),
                  () => delivering.delete(delivered),
                );
              }
            },
          },
        );
        const trigger = new WaveTrigger(world.batches, systemClock, dispatcher);
        return { seen, handled: trigger.handle(readMessage(batchEvents.subset('WaveDue'), toMessage(waveDue))!) };
      };

      it('triggers a batch whose waves are all due at once as it is called: never more than the window and two steps ahead', async () => {
        const { seen, handled } = await interval0Batch('bat_room', { status: 200, body: '"ok"', delayMs: 2 });
        await handled;
        await until(() => seen.finished === ITEMS, 30_000, 'every execution completed');
        // Without the wait the trigger appends the whole batch in a few hundred ms, thousands ahead of the calls.
        expect(seen.mostAhead).toBeLessThanOrEqual(WINDOW + 2 * TRIGGER_LIMIT);
        expect(seen.triggered).toBe(ITEMS);
        const calls = new Set(target!.calls.map((call) => call.body.executionId));
        expect([calls.size, target!.calls.length]).toEqual([ITEMS, ITEMS]);
      }, 60_000);

      it('goes on triggering the rest at once when none of the batch ends for ROOM_STALL_MS (calls that hang)', async () => {
        const started = Date.now();
        const { seen, handled } = await interval0Batch('bat_stall', { status: 200, delayMs: 60_000 });
        await handled;
        expect(Date.now() - started).toBeGreaterThanOrEqual(ROOM_STALL_MS);
        await until(() => seen.triggered === ITEMS, 10_000, 'every execution triggered');
        expect(seen.finished).toBe(0);
        // The calls out hang, so none of the batch ended: each is a first attempt, none was repeated.
        expect(target!.calls.length).toBeGreaterThan(0);
        expect(target!.calls.every((call) => call.body.attempt === 1)).toBe(true);
      }, 30_000);

      it('stops waiting when the executor stops: the wave is left for its message to be delivered again', async () => {
        const { seen, handled } = await interval0Batch('bat_stop', { status: 200, delayMs: 60_000 });
        await until(
          () => dispatcher.queuedOf('bat_stop').inLine + dispatcher.queuedOf('bat_stop').parked >= WINDOW,
          10_000,
          'the window full',
        );
        dispatcher.stop();
        await expect(handled).rejects.toThrow('The executor is stopping');
        expect(seen.triggered).toBeLessThan(ITEMS);
      }, 30_000);
    });
  });

  it('sends every documented field: the item inputs, its profile, the batch metadata overlaid with its own, the callback URL and token', async () => {
    target = await TargetServer.start(() => ({ status: 200 }));
    await world.createBatch({
      batchId: 'bat_fields',
      target: { url: target.url },
      metadata: { team: 'ops', region: 'eu' },
      profilePool: ['p1', 'p2'],
      items: [{ inputs: { n: '0', extra: 7 }, profile: 'p2', metadata: { region: 'us', row: '1' } }, { inputs: { n: '1' } }],
    });
    for (const message of await world.trigger('bat_fields')) await dispatcher.handle(message);

    const bodies = target.calls.map((call) => call.body).sort((a, b) => a.executionId.localeCompare(b.executionId));
    expect(bodies).toEqual([
      {
        executionId: 'bat_fields.0',
        batchId: 'bat_fields',
        workflowId: 'wf-bat_fields',
        workflowVersion: 1,
        inputs: { n: '0', extra: 7 },
        profile: 'p2',
        metadata: { team: 'ops', region: 'us', row: '1' },
        attempt: 1,
        callbackUrl: `${PUBLIC_URL}/v1/executions/bat_fields.0/result`,
        callbackToken: callbackTokenOf(config.callbackSecret, 'bat_fields.0'),
      },
      {
        executionId: 'bat_fields.1',
        batchId: 'bat_fields',
        workflowId: 'wf-bat_fields',
        workflowVersion: 1,
        inputs: { n: '1' },
        profile: null,
        metadata: { team: 'ops', region: 'eu' },
        attempt: 1,
        callbackUrl: `${PUBLIC_URL}/v1/executions/bat_fields.1/result`,
        callbackToken: callbackTokenOf(config.callbackSecret, 'bat_fields.1'),
      },
    ]);
  });
});
