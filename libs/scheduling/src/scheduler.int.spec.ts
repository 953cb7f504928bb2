import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { BatchCommandHandler, batchStream } from '@flotilla/application';
import type { BatchEvent, CreateBatch } from '@flotilla/domain';
import { EVENT_STORE, CoreModule, loadConfig } from '@flotilla/platform';
import { SqliteEventStore, type EventStore } from '@flotilla/event-store';
import { SchedulerModule, nextTimerOf } from './index';
import { until } from '@flotilla/testing/poll';

describe('scheduler', () => {
  let dir: string;
  let app: INestApplicationContext | null = null;

  const boot = async (): Promise<{ store: EventStore; batches: BatchCommandHandler }> => {
    @Module({ imports: [CoreModule.forRoot(loadConfig({ DATA_DIR: dir }, 'scheduler')), SchedulerModule] })
    class TestModule {}
    app = await NestFactory.createApplicationContext(TestModule, { logger: false });
    await app.init();
    return { store: app.get<EventStore>(EVENT_STORE), batches: app.get(BatchCommandHandler) };
  };

  const events = async (store: EventStore, batchId: string): Promise<BatchEvent[]> => {
    const all: BatchEvent[] = [];
    for await (const event of store.readStream(batchStream(batchId))) all.push(event as unknown as BatchEvent);
    return all;
  };

  const create = (batchId: string, startAt: Date, total: number, intervalSeconds: number): CreateBatch => ({
    type: 'CreateBatch',
    batchId,
    settings: {
      name: 'n',
      workflowId: 'wf',
      workflowVersion: 1,
      startAt: startAt.toISOString(),
      maxConcurrent: 1,
      batchIntervalSeconds: intervalSeconds,
      priority: 50,
      metadata: {},
    },
    total,
    items: { stream: `batchitems-${batchId}`, chunkStarts: [0] },
    actor: 'test',
    now: new Date(),
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-scheduler-'));
  });
  afterEach(async () => {
    await app?.close();
    app = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts a pending batch at its start time and declares each wave at its due time', async () => {
    const { store, batches } = await boot();
    const startAt = new Date(Date.now() + 400);
    await batches.handle('bat_s', create('bat_s', startAt, 3, 0.3));
    await until(async () => (await events(store, 'bat_s')).filter((event) => event.type === 'WaveDue').length === 3);
    const recorded = await events(store, 'bat_s');
    const started = recorded.find((event) => event.type === 'BatchStarted');
    expect(Date.parse(started!.data.occurredAt)).toBeGreaterThanOrEqual(startAt.getTime());
    expect(Date.parse(started!.data.occurredAt) - startAt.getTime()).toBeLessThan(200);
    for (const [wave, event] of recorded.filter((each) => each.type === 'WaveDue').entries()) {
      if (event.type !== 'WaveDue') continue;
      expect(event.data.wave).toBe(wave);
      expect(Date.parse(event.data.dueAt)).toBe(startAt.getTime() + wave * 300);
      const lateness = Date.parse(event.data.occurredAt) - Date.parse(event.data.dueAt);
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(200);
    }
  });

  it('after a restart, re-plans from the store: a start and waves that fell due while it was down fire at once, in order', async () => {
    const first = await boot();
    const startAt = new Date(Date.now() + 300);
    await first.batches.handle('bat_r', create('bat_r', startAt, 4, 0.2));
    await until(async () => nextTimerOf(await first.batches.load('bat_r')) === startAt.getTime());
    await app?.close();
    app = null;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Nothing happened while it was down.
    const peek = new SqliteEventStore(join(dir, 'events.sqlite'));
    expect((await events(peek, 'bat_r')).map((event) => event.type)).toEqual(['BatchCreated']);
    await peek.close();

    const restartedAt = Date.now();
    const restarted = await boot();
    await until(async () => (await events(restarted.store, 'bat_r')).filter((event) => event.type === 'WaveDue').length === 4);
    const recorded = await events(restarted.store, 'bat_r');
    expect(recorded.map((event) => event.type)).toEqual(['BatchCreated', 'BatchStarted', 'WaveDue', 'WaveDue', 'WaveDue', 'WaveDue']);
    const waves = recorded.flatMap((event) => (event.type === 'WaveDue' ? [event.data] : []));
    expect(waves.map((wave) => wave.wave)).toEqual([0, 1, 2, 3]);
    expect(waves.map((wave) => Date.parse(wave.dueAt))).toEqual([0, 1, 2, 3].map((wave) => startAt.getTime() + wave * 200));
    for (const wave of waves) expect(Date.parse(wave.occurredAt) - restartedAt).toBeLessThan(2000);
  });

  it('a paused batch has no timer; resuming arms it again', async () => {
    const { store, batches } = await boot();
    await batches.handle('bat_p', create('bat_p', new Date(), 5, 0.2));
    await batches.handle('bat_p', { type: 'PauseBatch', batchId: 'bat_p', now: new Date(), actor: 'ops' });
    expect(nextTimerOf(await batches.load('bat_p'))).toBeNull();
    const before = (await events(store, 'bat_p')).filter((event) => event.type === 'WaveDue').length;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await events(store, 'bat_p')).filter((event) => event.type === 'WaveDue').length).toBe(before);
    await batches.handle('bat_p', { type: 'ResumeBatch', batchId: 'bat_p', now: new Date(), actor: 'ops' });
    await until(
      async () => (await events(store, 'bat_p')).filter((event) => event.type === 'WaveDue' && event.data.plan === 1).length === 5,
    );
  });

  it('fails an accepted execution whose callback has not come by its deadline, with its accepted attempt; one settled in time is left alone', async () => {
    const { store, batches } = await boot();
    await batches.handle('bat_cb', create('bat_cb', new Date(), 2, 0));
    await batches.handle('bat_cb', { type: 'TriggerDueExecutions', batchId: 'bat_cb', now: new Date(), limit: 10 });
    const acceptedAt = new Date();
    const deadline = new Date(acceptedAt.getTime() + 400);
    await batches.handleAll('bat_cb', [
      { type: 'RecordExecutionAccepted', batchId: 'bat_cb', index: 0, attempt: 2, deadline, now: acceptedAt },
      { type: 'RecordExecutionAccepted', batchId: 'bat_cb', index: 1, attempt: 1, deadline, now: acceptedAt },
    ]);
    await batches.handle('bat_cb', {
      type: 'RecordCallbackResult',
      batchId: 'bat_cb',
      index: 1,
      result: { status: 'completed', output: 1 },
      now: new Date(),
    });
    await until(async () => (await events(store, 'bat_cb')).some((event) => event.type === 'ExecutionFailed'));
    const outcomes = (await events(store, 'bat_cb')).filter(
      (event) => event.type === 'ExecutionFailed' || event.type === 'ExecutionCompleted',
    );
    expect(outcomes.map((event) => [event.type, event.data.index])).toEqual([
      ['ExecutionCompleted', 1],
      ['ExecutionFailed', 0],
    ]);
    const failed = outcomes[1]!;
    if (failed.type !== 'ExecutionFailed') throw new Error('expected ExecutionFailed');
    expect(failed.data).toMatchObject({ attempts: 2, error: 'No result arrived on the callback before the workflow timeout' });
    expect(Date.parse(failed.data.occurredAt)).toBeGreaterThanOrEqual(deadline.getTime());
  });
});
