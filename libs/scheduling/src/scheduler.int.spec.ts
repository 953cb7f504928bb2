import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { BatchCommandHandler, batchStream } from '@flotilla/application';
import type { BatchEvent, CatchUp, CreateBatch } from '@flotilla/domain';
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

  const create = (batchId: string, startAt: Date, total: number, intervalSeconds: number, catchUp: CatchUp = 'burst'): CreateBatch => ({
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
      catchUp,
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

  it('after a restart, re-plans from the store: a start, and the waves of a burst batch that fell due while it was down, fire at once, in order', async () => {
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

  it('after a restart, a paced batch whose waves fell due while it was down is re-planned from the restart, not fired in a burst', async () => {
    const first = await boot();
    const startAt = new Date(Date.now() + 300);
    // A 1 s interval: a grace of 500 ms, so a busy machine's timers do not re-plan again.
    await first.batches.handle('bat_c', create('bat_c', startAt, 4, 1, 'paced'));
    await until(async () => nextTimerOf(await first.batches.load('bat_c')) === startAt.getTime());
    await app?.close();
    app = null;
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const restartedAt = Date.now();
    const restarted = await boot();
    await until(async () => (await events(restarted.store, 'bat_c')).filter((event) => event.type === 'WaveDue').length === 4);
    const recorded = await events(restarted.store, 'bat_c');
    expect(recorded.map((event) => event.type)).toEqual([
      'BatchCreated',
      'BatchStarted',
      'BatchReplanned',
      'WaveDue',
      'WaveDue',
      'WaveDue',
      'WaveDue',
    ]);
    const replanned = recorded[2]!;
    if (replanned.type !== 'BatchReplanned') throw new Error('expected BatchReplanned');
    expect(replanned.data).toMatchObject({ plan: 1, pending: 4, reason: 'catch-up after downtime', actor: 'system' });
    const anchor = Date.parse(replanned.data.occurredAt);
    expect(anchor).toBeGreaterThanOrEqual(restartedAt);
    expect(replanned.data.planEndsAt).toBe(new Date(anchor + 3 * 1000).toISOString());
    // The new plan's waves, one per interval from the re-plan: the first declared with it.
    const waves = recorded.flatMap((event) => (event.type === 'WaveDue' ? [event.data] : []));
    expect(waves.map((wave) => [wave.plan, wave.wave, Date.parse(wave.dueAt)])).toEqual(
      [0, 1, 2, 3].map((wave) => [1, wave, anchor + wave * 1000]),
    );
    expect(waves[0]!.occurredAt).toBe(replanned.data.occurredAt);
  });

  it('a running batch reconfigured to new wave figures gets its timers for the new plan, its first wave at once', async () => {
    const { store, batches } = await boot();
    await batches.handle('bat_re', create('bat_re', new Date(), 6, 60, 'paced'));
    await until(async () => (await events(store, 'bat_re')).some((event) => event.type === 'WaveDue'));
    await batches.handle('bat_re', { type: 'TriggerDueExecutions', batchId: 'bat_re', now: new Date(), limit: 10 });
    const changedAt = new Date();
    await batches.handle('bat_re', {
      type: 'ReconfigureBatch',
      batchId: 'bat_re',
      changes: { maxConcurrent: 2, batchIntervalSeconds: 1 },
      now: changedAt,
      actor: 'ops',
    });
    // 5 pending, 2 a wave: waves 0, 1, 2 of plan 1 at +0, +1, +2 s from the change.
    await until(
      async () => (await events(store, 'bat_re')).filter((event) => event.type === 'WaveDue' && event.data.plan === 1).length === 3,
    );
    const waves = (await events(store, 'bat_re')).flatMap((event) =>
      event.type === 'WaveDue' && event.data.plan === 1 ? [event.data] : [],
    );
    expect(waves.map((wave) => Date.parse(wave.dueAt))).toEqual([0, 1000, 2000].map((offset) => changedAt.getTime() + offset));
    for (const wave of waves) expect(Date.parse(wave.occurredAt)).toBeGreaterThanOrEqual(Date.parse(wave.dueAt));
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

  it('a held batch has no wave timer, running or not; its release re-plans from then and arms it again', async () => {
    const { store, batches } = await boot();
    await batches.handle('bat_h', create('bat_h', new Date(), 5, 0.2, 'paced'));
    await batches.handle('bat_h', {
      type: 'HoldBatch',
      batchId: 'bat_h',
      by: 'workflow',
      reason: 'maintenance',
      actor: 'ops',
      now: new Date(),
    });
    const held = await batches.load('bat_h');
    expect(held.status).toBe('running');
    expect(nextTimerOf(held)).toBeNull();
    const before = (await events(store, 'bat_h')).filter((event) => event.type === 'WaveDue').length;
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect((await events(store, 'bat_h')).filter((event) => event.type === 'WaveDue').length).toBe(before);
    const releasedAt = new Date();
    await batches.handle('bat_h', { type: 'ReleaseBatch', batchId: 'bat_h', reason: 'back', actor: 'ops', now: releasedAt });
    await until(
      async () => (await events(store, 'bat_h')).filter((event) => event.type === 'WaveDue' && event.data.plan === 1).length === 5,
    );
    const waves = (await events(store, 'bat_h')).flatMap((event) =>
      event.type === 'WaveDue' && event.data.plan === 1 ? [event.data] : [],
    );
    // On the new plan from the release, not a catch-up of the waves missed while held.
    expect(Date.parse(waves[0]!.dueAt)).toBe(releasedAt.getTime());
    expect((await events(store, 'bat_h')).some((event) => event.type === 'BatchReplanned')).toBe(false);
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
