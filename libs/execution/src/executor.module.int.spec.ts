import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { BatchCommandHandler } from '@flotilla/application';
import type { EventStore } from '@flotilla/event-store';
import { CLOCK, CONFIG, CoreModule, EVENT_STORE, callbackTokenOf, loadConfig, type Clock, type PlatformConfig } from '@flotilla/platform';
import { ExecutionWorld, TargetServer } from './execution.fixtures';
import { DISPATCH_GROUP, ExecutorModule, TRIGGER_GROUP } from './executor.module';
import { until } from '@flotilla/testing/poll';

@Module({})
class TestRoot {}

const PUBLIC_URL = 'http://flotilla.test:3000';

describe('ExecutorModule', () => {
  let dir: string;
  let target: TargetServer;
  /** Apps still running; a failed assertion must not leave one behind to keep jest alive. */
  const running = new Set<INestApplicationContext>();

  const start = async (): Promise<INestApplicationContext> => {
    const app = await NestFactory.createApplicationContext(
      {
        module: TestRoot,
        imports: [CoreModule.forRoot(loadConfig({ DATA_DIR: dir, PUBLIC_URL, EXECUTOR_CONCURRENCY: '8' }, 'executor')), ExecutorModule],
      },
      { logger: false },
    );
    running.add(app);
    return app;
  };
  /** As `start`, with the clock given. */
  const startWith = async (clock: Clock): Promise<INestApplicationContext> => {
    const testing = await Test.createTestingModule({
      imports: [CoreModule.forRoot(loadConfig({ DATA_DIR: dir, PUBLIC_URL, EXECUTOR_CONCURRENCY: '8' }, 'executor')), ExecutorModule],
    })
      .overrideProvider(CLOCK)
      .useValue(clock)
      .compile();
    testing.useLogger(false);
    const app = await testing.init();
    running.add(app);
    return app;
  };
  const stop = async (app: INestApplicationContext): Promise<void> => {
    running.delete(app);
    await app.close();
  };
  const deadLetters = async (store: EventStore): Promise<number> => {
    let count = 0;
    for (const group of [TRIGGER_GROUP, DISPATCH_GROUP]) for await (const _ of store.readStream(`deadletters-${group}`)) count++;
    return count;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-executor-'));
    target = await TargetServer.start((call) => ({ status: 200, body: JSON.stringify({ echo: call.body.inputs['n'] }) }));
  });
  afterEach(async () => {
    await Promise.all([...running].map(stop));
    await target.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a due wave: triggers its executions, calls the target once each, records their outputs; a restart calls nothing again', async () => {
    const app = await start();
    const store = app.get<EventStore>(EVENT_STORE);
    const world = ExecutionWorld.over(store);
    const total = 25;
    await world.createBatch({
      batchId: 'bat_nest',
      target: { url: target.url },
      metadata: { team: 'ops' },
      items: Array.from({ length: total }, (_, n) => ({ inputs: { n: String(n) } })),
    });

    // What the scheduler does when the wave's timer fires; the rest is the executor's, through the transport.
    await app.get(BatchCommandHandler).handle('bat_nest', { type: 'DeclareDueWaves', batchId: 'bat_nest', now: new Date() });

    const completed = async () => (await world.events('bat_nest')).filter((event) => event.type === 'ExecutionCompleted');
    await until(async () => (await completed()).length === total);
    for (const event of await completed()) {
      const index = event.data['index'] as number;
      expect(event.data).toMatchObject({ executionId: `bat_nest.${index}`, output: { echo: String(index) }, attempts: 1 });
    }
    expect(target.calls).toHaveLength(total);
    const call = target.calls.find((candidate) => candidate.body.executionId === 'bat_nest.3')!;
    expect(call.headers['idempotency-key']).toBe('bat_nest.3');
    expect(call.body).toEqual({
      executionId: 'bat_nest.3',
      batchId: 'bat_nest',
      workflowId: 'wf-bat_nest',
      workflowVersion: 1,
      inputs: { n: '3' },
      profile: null,
      metadata: { team: 'ops' },
      attempt: 1,
      callbackUrl: `${PUBLIC_URL}/v1/executions/bat_nest.3/result`,
      callbackToken: callbackTokenOf(app.get<PlatformConfig>(CONFIG).callbackSecret, 'bat_nest.3'),
    });
    expect((await world.events('bat_nest')).filter((event) => event.type === 'BatchCompleted')).toHaveLength(1);
    expect(await deadLetters(store)).toBe(0);
    await stop(app);

    const restarted = await start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(target.calls).toHaveLength(total);
    expect(await deadLetters(restarted.get<EventStore>(EVENT_STORE))).toBe(0);
  });

  it("calls a wave's first execution before the rest of the wave is triggered", async () => {
    // Moves on a millisecond at each reading, so the times recorded give the order of the readings:
    // the trigger reads it as it decides, the dispatcher as a call starts. A few seconds ahead of the
    // wave's due time, so that each decision takes the clock's time rather than the due time.
    let tick = Date.now() + 5000;
    const app = await startWith({ now: () => new Date(++tick) });
    const world = ExecutionWorld.over(app.get<EventStore>(EVENT_STORE));
    const total = 3;
    await world.createBatch({
      batchId: 'bat_first',
      target: { url: target.url },
      items: Array.from({ length: total }, () => ({ inputs: {} })),
    });

    await app.get(BatchCommandHandler).handle('bat_first', { type: 'DeclareDueWaves', batchId: 'bat_first', now: new Date() });

    await until(async () => (await world.events('bat_first')).filter((event) => event.type === 'ExecutionCompleted').length === total);
    const events = await world.events('bat_first');
    const triggeredAt = new Map(
      events
        .filter((event) => event.type === 'ExecutionTriggered')
        .map((event) => [event.data['index'], Date.parse(event.data['occurredAt'] as string)]),
    );
    const started = events.find((event) => event.type === 'ExecutionCallsStarted' && (event.data['indexes'] as number[]).includes(0));
    const calledAt = Date.parse(started!.data['at'] as string);
    // The first execution alone, called; then the others, in one decision.
    expect(triggeredAt.get(0)).toBeLessThan(calledAt);
    expect(triggeredAt.get(1)).toBeGreaterThan(calledAt);
    expect(triggeredAt.get(2)).toBe(triggeredAt.get(1));
  });

  it('shuts down promptly while a call waits for a retry, and the restarted executor finishes it', async () => {
    await target.close();
    let failing = true;
    target = await TargetServer.start(() => (failing ? { status: 503, headers: { 'Retry-After': '120' } } : { status: 200, body: '"ok"' }));
    const app = await start();
    const world = ExecutionWorld.over(app.get<EventStore>(EVENT_STORE));
    await world.createBatch({ batchId: 'bat_stop', target: { url: target.url } });
    await app.get(BatchCommandHandler).handle('bat_stop', { type: 'DeclareDueWaves', batchId: 'bat_stop', now: new Date() });
    await until(async () => (await world.events('bat_stop')).some((event) => event.type === 'ExecutionAttemptFailed'));

    const started = Date.now();
    await stop(app);
    expect(Date.now() - started).toBeLessThan(2000);

    failing = false;
    const restarted = await start();
    const again = ExecutionWorld.over(restarted.get<EventStore>(EVENT_STORE));
    await until(async () => (await again.events('bat_stop')).some((event) => event.type === 'ExecutionCompleted'));
    expect(target.calls).toHaveLength(2);
    expect(await deadLetters(restarted.get<EventStore>(EVENT_STORE))).toBe(0);
  });
});
