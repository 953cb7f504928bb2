import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DomainError,
  batchEvents,
  decide,
  estimatedCompletionOf,
  evolve,
  initialBatchState,
  type BatchCommand,
  type BatchEvent,
  type BatchState,
  type BatchItem,
  type BatchSettings,
} from '@flotilla/domain';
import {
  SqliteEventStore,
  type EventStore,
  type StoredEvent,
  type SubscribeOptions,
  type SubscriptionHandler,
} from '@flotilla/event-store';
import { StateDb } from '@flotilla/state';
import fc from 'fast-check';
import {
  BatchQueries,
  BatchResults,
  IsoTimes,
  ProjectionRunner,
  WorkflowRunQueries,
  BatchExecutionsProjection,
  batchProjections,
  executionResultJson,
  settleFully,
  toExecutionResult,
} from './index';
import type { HistoryEntry } from './batch-views';

/** Seeded so a failure can be replayed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const dump = (db: StateDb) => ({
  batches: db.all('SELECT * FROM batches ORDER BY id'),
  executions: db.all('SELECT * FROM executions ORDER BY batch_id, idx'),
  plans: db.all('SELECT * FROM execution_plans ORDER BY batch_id'),
  history: db.all('SELECT * FROM batch_history ORDER BY batch_id, position'),
});

/** A batch's settings starting at `now`, interval 0, with what a case sets differently. */
const settingsAt = (now: Date, overrides: Partial<BatchSettings>): BatchSettings => ({
  name: 'b',
  workflowId: 'wf',
  workflowVersion: 1,
  startAt: now.toISOString(),
  maxConcurrent: 10,
  batchIntervalSeconds: 0,
  priority: 50,
  metadata: {},
  catchUp: 'paced',
  ...overrides,
});

/** Writes batches the way the services do (items chunks, then decisions appended with expected revisions). */
class Driver {
  private readonly states = new Map<string, { state: BatchState; revision: number }>();
  constructor(private readonly store: EventStore) {}

  async create(
    batchId: string,
    items: BatchItem[],
    command: Omit<Extract<BatchCommand, { type: 'CreateBatch' }>, 'items' | 'total'>,
  ): Promise<void> {
    const chunkStarts = await this.chunks(batchId, items);
    await this.run(batchId, { ...command, total: items.length, items: { stream: `batchitems-${batchId}`, chunkStarts } });
  }

  /** Appends the batch's items in chunks of 7, as an intake does before its CreateBatch; returns where each chunk starts. */
  async chunks(batchId: string, items: BatchItem[]): Promise<number[]> {
    const chunkStarts: number[] = [];
    for (let from = 0; from < items.length; from += 7) {
      chunkStarts.push(from);
      await this.store.appendToStream(`batchitems-${batchId}`, [
        { type: 'BatchItemsChunkRecorded', data: { batchId, fromIndex: from, items: items.slice(from, from + 7) } },
      ]);
    }
    return chunkStarts;
  }

  async run(batchId: string, command: BatchCommand): Promise<BatchEvent[]> {
    const current = this.states.get(batchId) ?? { state: initialBatchState(), revision: -1 };
    let events: BatchEvent[];
    try {
      events = decide(command, current.state);
    } catch (error) {
      if (error instanceof DomainError) return [];
      throw error;
    }
    if (events.length === 0) return events;
    // With each type's schema version, as the command handler writes them: read back, they are not upcast.
    const stored = events.map((event) => {
      const schemaVersion = batchEvents.schemaVersionOf(event.type);
      return schemaVersion === 1 ? event : { ...event, metadata: { schemaVersion } };
    });
    const result = await this.store.appendToStream(`batch-${batchId}`, stored, {
      expectedRevision: current.revision < 0 ? 'no_stream' : current.revision,
    });
    this.states.set(batchId, { state: events.reduce(evolve, current.state), revision: result.nextExpectedRevision });
    return events;
  }

  state(batchId: string): BatchState | undefined {
    return this.states.get(batchId)?.state;
  }

  triggered(batchId: string): number[] {
    const state = this.states.get(batchId)?.state;
    if (!state || state.status === 'initial') return [];
    const indexes: number[] = [];
    for (let i = 0; i < state.counts.total; i++) if (state.executions.stateOf(i) === 'triggered') indexes.push(i);
    return indexes;
  }
}

/** Replays everything from the first event, whatever position the runner asks for. */
const replayingFromStart = (store: EventStore): EventStore =>
  new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'subscribeToAll') {
        return (options: SubscribeOptions, handler: SubscriptionHandler) => target.subscribeToAll({ ...options, after: 'start' }, handler);
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });

describe('projections', () => {
  let dir: string;
  let store: SqliteEventStore;
  const dbs: StateDb[] = [];
  const runners: ProjectionRunner[] = [];
  const readModels = (path = ':memory:') => {
    const db = new StateDb(path);
    dbs.push(db);
    return db;
  };
  const runner = (db: StateDb, source: EventStore = store) => {
    const created = new ProjectionRunner(source, db, batchProjections());
    runners.push(created);
    return created;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-projections-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
  });

  afterEach(async () => {
    for (const each of runners.splice(0)) await each.stop();
    for (const db of dbs.splice(0)) db.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a projection rebuilt from zero equals the live one after a random mix of commands', async () => {
    const next = random(20261122);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
    const live = readModels(join(dir, 'live.sqlite'));
    const liveRunner = runner(live);
    await liveRunner.start();

    const driver = new Driver(store);
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    let now = t0;
    const batchIds: string[] = [];
    for (let step = 0; step < 1200; step++) {
      now += Math.floor(next() * 20_000);
      const at = new Date(now);
      const batchId = batchIds.length === 0 || next() < 0.08 ? `bat_${batchIds.length}` : pick(batchIds);
      if (!batchIds.includes(batchId)) {
        batchIds.push(batchId);
        const total = 1 + Math.floor(next() * 30);
        const items = Array.from({ length: total }, (_, i) => ({
          inputs: { n: i, word: `w${Math.floor(next() * 1000)}` },
          profile: next() < 0.5 ? 'p' : undefined,
        }));
        await driver.create(batchId, items, {
          type: 'CreateBatch',
          batchId,
          settings: {
            name: `batch ${batchId}`,
            workflowId: pick(['wf-a', 'wf-b']),
            workflowVersion: 1,
            startAt: new Date(now + (next() < 0.5 ? 0 : 30_000)).toISOString(),
            maxConcurrent: 1 + Math.floor(next() * 5),
            batchIntervalSeconds: pick([0, 10, 30]),
            priority: 50,
            metadata: { team: 'a' },
            catchUp: pick(['paced', 'burst'] as const),
          },
          actor: 'tester',
          now: at,
        });
        continue;
      }
      const actor = { actor: 'ops', reason: next() < 0.5 ? 'because' : undefined };
      const index = Math.floor(next() * 30);
      const triggered = driver.triggered(batchId);
      const outcomeIndex = triggered.length > 0 ? pick(triggered) : index;
      const command: BatchCommand = pick<BatchCommand>([
        { type: 'StartBatch', batchId, now: at },
        { type: 'DeclareDueWaves', batchId, now: at },
        { type: 'TriggerDueExecutions', batchId, now: at, limit: 1 + Math.floor(next() * 10) },
        { type: 'TriggerDueExecutions', batchId, now: at, limit: 100 },
        { type: 'RecordExecutionCompleted', batchId, index: outcomeIndex, output: { ok: index }, attempts: 1, now: at },
        { type: 'RecordExecutionFailed', batchId, index: outcomeIndex, error: 'HTTP 500', statusCode: 500, attempts: 3, now: at },
        { type: 'RecordAttemptFailed', batchId, index: outcomeIndex, attempt: 1, error: 'HTTP 503', retryAt: new Date(now + 500), now: at },
        { type: 'CancelExecution', batchId, index, now: at, ...actor },
        { type: 'RescheduleExecution', batchId, index, executeAt: new Date(now + Math.floor(next() * 60_000)), now: at, ...actor },
        { type: 'PauseBatch', batchId, now: at, ...actor },
        { type: 'ResumeBatch', batchId, now: at, ...actor },
        { type: 'RecordThrottled', batchId, until: new Date(now + 3000), workflowId: 'wf-a', now: at },
        { type: 'RecordThrottleLifted', batchId, now: at },
        { type: 'CancelBatch', batchId, now: at, ...actor },
        { type: 'HoldBatch', batchId, by: 'workflow', reason: 'workflow held', actor: 'ops', now: at },
        { type: 'ReleaseBatch', batchId, reason: 'workflow released', actor: 'ops', now: at },
        {
          type: 'ReconfigureBatch',
          batchId,
          now: at,
          changes: pick([
            { maxConcurrent: 1 + Math.floor(next() * 5) },
            { batchIntervalSeconds: pick([0, 10, 30]) },
            { maxConcurrent: 1 + Math.floor(next() * 5), batchIntervalSeconds: pick([0, 10, 30]), priority: 10 },
            { maxFailures: pick([null, 0, 3]), maxFailurePercent: pick([null, 50]) },
          ]),
          ...actor,
        },
      ]);
      await driver.run(batchId, command);
    }

    const end = (await store.streamRevision(`batch-${batchIds[0]}`)) ?? -1;
    expect(end).toBeGreaterThan(0);
    // Wait for the live runner to apply everything written.
    let lastPosition = 0n;
    for await (const event of store.readAll()) lastPosition = event.position;
    await liveRunner.waitFor(lastPosition);

    const liveDump = dump(live);
    expect(liveDump.batches.length).toBe(batchIds.length);
    const statuses = new Set(liveDump.batches.map((row) => (row as { status: string }).status));
    expect(statuses.size).toBeGreaterThanOrEqual(3);
    expect(liveDump.history.length).toBeGreaterThan(500);
    // The mix reached the events that start a new plan.
    const historyTypes = new Set(liveDump.history.map((row) => (row as { type: string }).type));
    expect([...historyTypes]).toEqual(
      expect.arrayContaining([
        'BatchResumed',
        'BatchReconfigured',
        'BatchReplanned',
        'BatchReleased',
        'BatchThrottled',
        'BatchThrottleLifted',
      ]),
    );
    // New plans both over a run of consecutive pending executions (the plan's row alone) and over
    // pending executions with holes among them (a time written per row).
    const plansAfterTriggers = live.all<{ n: number }>('SELECT COUNT(*) AS n FROM execution_plans WHERE plan_first_idx > 0')[0]?.n;
    expect(plansAfterTriggers).toBeGreaterThan(0);
    const timedPending = live.all<{ n: number }>(
      "SELECT COUNT(*) AS n FROM executions WHERE state = 'pending' AND execute_at IS NOT NULL",
    )[0]?.n;
    expect(timedPending).toBeGreaterThan(0);

    const rebuilt = readModels();
    await runner(rebuilt).start();
    expect(dump(rebuilt)).toEqual(liveDump);

    // Rebuilding one projection in place gives the same rows again.
    await liveRunner.rebuild('batch-executions');
    expect(dump(live)).toEqual(liveDump);

    // Every count agrees with the execution rows it summarises.
    const queries = new BatchQueries(live);
    for (const batchId of batchIds) {
      const batch = queries.getBatch(batchId)!;
      const rows = live.all<{ state: string; n: number }>(
        'SELECT state, count(*) AS n FROM executions WHERE batch_id = ? GROUP BY state',
        batchId,
      );
      const count = (state: string) => rows.find((row) => row.state === state)?.n ?? 0;
      expect(batch.progress.pending).toBe(count('pending'));
      expect(batch.progress.cancelled).toBe(count('cancelled'));
      expect(batch.progress.triggered).toBe(count('triggered') + count('completed') + count('failed'));
      expect(batch.progress.completed).toBe(count('completed'));
      expect(batch.progress.failed).toBe(count('failed'));
      // And every row agrees with the decider's own state of the batch.
      const state = driver.state(batchId);
      if (!state || state.status === 'initial') throw new Error(`no state for ${batchId}`);
      expect(batch.status).toBe(state.status);
      expect(batch.progress).toMatchObject(state.counts);
      const { maxConcurrent, batchIntervalSeconds, priority, maxFailurePercent, maxFailures, catchUp } = state.settings;
      expect([batchId, batch]).toEqual([
        batchId,
        expect.objectContaining({
          maxConcurrent,
          batchIntervalSeconds,
          priority,
          maxFailurePercent: maxFailurePercent ?? null,
          maxFailures: maxFailures ?? null,
          catchUp,
        }),
      ]);
      expect([batchId, batch.estimatedCompletionAt]).toEqual([batchId, estimatedCompletionOf(state)]);
      expect([batchId, batch.throttledUntil]).toEqual([batchId, state.throttledUntil]);
      const executions = queries.listExecutions(batchId, { limit: 100 }).items;
      for (const execution of executions) {
        const expected = state.executions.stateOf(execution.index);
        expect([execution.index, execution.outcome?.status ?? execution.status]).toEqual([execution.index, expected]);
        if (expected === 'pending') {
          expect([execution.index, execution.executeAt]).toEqual([
            execution.index,
            new Date(state.executions.executeAtOf(execution.index)).toISOString(),
          ]);
        } else {
          // It keeps the time it was due at when it left pending.
          expect([execution.index, execution.executeAt]).toEqual([execution.index, expect.any(String)]);
        }
      }
      const exported = new BatchResults(live).page(batchId, { after: -1, limit: 100 });
      expect(exported.map(([index]) => index)).toEqual(executions.map((execution) => execution.index));
      for (const [index, status, executeAt] of exported) {
        if (status === 'pending') expect([index, executeAt]).toEqual([index, state.executions.executeAtOf(index)]);
      }
    }
  });

  it('replaying events already applied changes nothing (guarded by position)', async () => {
    const driver = new Driver(store);
    const now = new Date('2026-03-01T00:00:00Z');
    await driver.create('bat_r', [{ inputs: { a: 1 } }, { inputs: { a: 2 } }, { inputs: { a: 3 } }], {
      type: 'CreateBatch',
      batchId: 'bat_r',
      settings: settingsAt(now, { name: 'r', maxConcurrent: 2 }),
      actor: 't',
      now,
    });
    await driver.run('bat_r', { type: 'TriggerDueExecutions', batchId: 'bat_r', now, limit: 2 });
    await driver.run('bat_r', { type: 'RecordExecutionCompleted', batchId: 'bat_r', index: 0, output: 'x', attempts: 1, now });
    const db = readModels(join(dir, 'read.sqlite'));
    await runner(db).start();
    const once = dump(db);
    expect(new BatchQueries(db).getBatch('bat_r')?.progress).toMatchObject({ total: 3, pending: 1, triggered: 2, completed: 1 });
    await runners[0]!.stop();

    await runner(db, replayingFromStart(store)).start();
    expect(dump(db)).toEqual(once);
  });

  it('resumes from its stored checkpoint after a restart', async () => {
    const driver = new Driver(store);
    const now = new Date('2026-03-01T00:00:00Z');
    const settings = settingsAt(now, { name: 'c', maxConcurrent: 1 });
    await driver.create('bat_c', [{ inputs: {} }, { inputs: {} }], { type: 'CreateBatch', batchId: 'bat_c', settings, actor: 't', now });
    const path = join(dir, 'read.sqlite');
    const first = readModels(path);
    await runner(first).start();
    await runners[0]!.stop();
    first.close();

    await driver.run('bat_c', { type: 'PauseBatch', batchId: 'bat_c', now, actor: 'ops', reason: 'maintenance' });
    const second = readModels(path);
    await runner(second).start();
    expect(new BatchQueries(second).getBatch('bat_c')?.status).toBe('paused');
    const history = (JSON.parse(new BatchQueries(second).historyJson('bat_c', { limit: 100 })) as { items: HistoryEntry[] }).items;
    expect(history.map((entry) => entry.type)).toEqual(['BatchCreated', 'BatchStarted', 'BatchPaused']);
    expect(history[2]).toMatchObject({ actor: 'ops', reason: 'maintenance' });
  });

  it('reads a status page through executions_by_state: the executions in that state, seeked, not the batch scanned', async () => {
    /** Keeps the text of every statement the queries prepare, to ask SQLite how it runs them. */
    class RecordingStateDb extends StateDb {
      readonly prepared = new Set<string>();
      override prepare(sql: string) {
        this.prepared.add(sql);
        return super.prepare(sql);
      }
    }
    const driver = new Driver(store);
    const now = new Date('2026-03-01T00:00:00Z');
    const items = Array.from({ length: 20 }, (_, i) => ({ inputs: { n: i } }));
    const settings = settingsAt(now, { name: 's', maxConcurrent: 20 });
    await driver.create('bat_s', items, { type: 'CreateBatch', batchId: 'bat_s', settings, actor: 't', now });
    await driver.run('bat_s', { type: 'TriggerDueExecutions', batchId: 'bat_s', now, limit: 4 });
    for (const index of [1, 3]) {
      await driver.run('bat_s', { type: 'RecordExecutionCompleted', batchId: 'bat_s', index, output: 'x', attempts: 1, now });
    }
    const db = new RecordingStateDb();
    dbs.push(db);
    await runner(db).start();

    const completed = new BatchQueries(db).listExecutions('bat_s', { status: 'completed', limit: 1 });
    expect(completed.items.map((execution) => execution.index)).toEqual([1]);
    const next = new BatchQueries(db).listExecutions('bat_s', { status: 'completed', limit: 1, cursor: completed.nextCursor ?? '' });
    expect(next).toMatchObject({ items: [{ index: 3 }], nextCursor: null });
    expect(new BatchResults(db).page('bat_s', { status: 'pending', after: 10, limit: 5 }).map((row) => row[0])).toEqual([
      11, 12, 13, 14, 15,
    ]);
    expect(new WorkflowRunQueries(db).list({ batchId: 'bat_s', state: 'completed', limit: 10 }).rows.map((row) => row.idx)).toEqual([1, 3]);

    const statusReads = [...db.prepared].filter((sql) => sql.includes('e.state = ?'));
    expect(statusReads).toHaveLength(3);
    for (const sql of statusReads) {
      const plan = db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).map((step) => step.detail);
      expect(plan).toContainEqual(
        expect.stringMatching(/^SEARCH e USING INDEX executions_by_state \(batch_id=\? AND state=\? AND idx>\?\)/),
      );
      expect(plan.join('\n')).not.toMatch(/TEMP B-TREE|SCAN e/);
    }
  });

  it('makes a new plan by writing the plan, not a time per pending execution, unless the pending ones have holes', async () => {
    const driver = new Driver(store);
    const t0 = new Date('2026-03-01T00:00:00Z');
    const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
    const items = Array.from({ length: 10 }, (_, i) => ({ inputs: { n: i } }));
    const settings = settingsAt(t0, { name: 'p', maxConcurrent: 2, batchIntervalSeconds: 10 });
    await driver.create('bat_p', items, { type: 'CreateBatch', batchId: 'bat_p', settings, actor: 't', now: t0 });
    for (const seconds of [0, 10])
      await driver.run('bat_p', { type: 'TriggerDueExecutions', batchId: 'bat_p', now: at(seconds), limit: 100 });
    await driver.run('bat_p', { type: 'RescheduleExecution', batchId: 'bat_p', index: 8, executeAt: at(500), now: at(11), actor: 'ops' });
    await driver.run('bat_p', { type: 'PauseBatch', batchId: 'bat_p', now: at(12), actor: 'ops' });
    await driver.run('bat_p', { type: 'ResumeBatch', batchId: 'bat_p', now: at(100), actor: 'ops' });
    const db = readModels();
    const projections = runner(db);
    await projections.start();
    const queries = new BatchQueries(db);
    const times = () =>
      queries.listExecutions('bat_p', { limit: 100 }).items.map((execution) => [execution.index, execution.status, execution.executeAt]);
    const ownTimes = () =>
      db.all<{ idx: number }>("SELECT idx FROM executions WHERE batch_id = 'bat_p' AND state = 'pending' AND execute_at IS NOT NULL");
    const expectTimesOfTheDecider = () => {
      const state = driver.state('bat_p');
      if (!state || state.status === 'initial') throw new Error('no state');
      for (const [index, status, executeAt] of times()) {
        if (status === 'pending')
          expect([index, executeAt]).toEqual([index, new Date(state.executions.executeAtOf(Number(index))).toISOString()]);
      }
    };
    const sync = async () => {
      let position = 0n;
      for await (const event of store.readAll()) position = event.position;
      await projections.waitFor(position);
    };

    // Waves 0 and 1 went out at 0 s and 10 s; the resume plans 4..9 from 100 s, 8 back in the plan.
    expect(times()).toEqual([
      [0, 'triggered', at(0).toISOString()],
      [1, 'triggered', at(0).toISOString()],
      [2, 'triggered', at(10).toISOString()],
      [3, 'triggered', at(10).toISOString()],
      [4, 'pending', at(100).toISOString()],
      [5, 'pending', at(100).toISOString()],
      [6, 'pending', at(110).toISOString()],
      [7, 'pending', at(110).toISOString()],
      [8, 'pending', at(120).toISOString()],
      [9, 'pending', at(120).toISOString()],
    ]);
    expectTimesOfTheDecider();
    expect(ownTimes()).toEqual([]);

    // A hole: 6 cancelled, so 7 moves up a rank in the next plan, and each pending row gets its time.
    await driver.run('bat_p', { type: 'CancelExecution', batchId: 'bat_p', index: 6, now: at(101), actor: 'ops' });
    await driver.run('bat_p', { type: 'PauseBatch', batchId: 'bat_p', now: at(102), actor: 'ops' });
    await driver.run('bat_p', { type: 'ResumeBatch', batchId: 'bat_p', now: at(200), actor: 'ops' });
    await sync();
    expect(times().slice(4)).toEqual([
      [4, 'pending', at(200).toISOString()],
      [5, 'pending', at(200).toISOString()],
      [6, 'cancelled', at(110).toISOString()],
      [7, 'pending', at(210).toISOString()],
      [8, 'pending', at(210).toISOString()],
      [9, 'pending', at(220).toISOString()],
    ]);
    expectTimesOfTheDecider();
    expect(ownTimes().map((row) => row.idx)).toEqual([4, 5, 7, 8, 9]);

    // 4 and 5 leave: the run 7..9 is planned by the plan's row again, each row's own time dropped.
    await driver.run('bat_p', { type: 'TriggerDueExecutions', batchId: 'bat_p', now: at(200), limit: 100 });
    await driver.run('bat_p', { type: 'ReconfigureBatch', batchId: 'bat_p', changes: { maxConcurrent: 1 }, now: at(300), actor: 'ops' });
    await sync();
    expect(times().slice(4)).toEqual([
      [4, 'triggered', at(200).toISOString()],
      [5, 'triggered', at(200).toISOString()],
      [6, 'cancelled', at(110).toISOString()],
      [7, 'pending', at(300).toISOString()],
      [8, 'pending', at(310).toISOString()],
      [9, 'pending', at(320).toISOString()],
    ]);
    expectTimesOfTheDecider();
    expect(ownTimes()).toEqual([]);
    expect(db.all("SELECT plan_first_idx, plan_max_concurrent FROM execution_plans WHERE batch_id = 'bat_p'")).toEqual([
      { plan_first_idx: 7, plan_max_concurrent: 1 },
    ]);
  });

  it("writes a chunk's executions rows with its items, pending and unseen until BatchCreated, which adds none of its own", async () => {
    const items: BatchItem[] = Array.from({ length: 30 }, (_, n) => ({ inputs: { n } }));
    const driver = new Driver(store);
    const chunkStarts = await driver.chunks('bat_rows', items);
    const db = readModels();
    const live = runner(db);
    await live.start();
    const rows = () =>
      db.all<{ idx: number; state: string }>('SELECT idx, state FROM executions WHERE batch_id = ? ORDER BY idx', 'bat_rows');
    expect(rows()).toEqual(items.map((_, idx) => ({ idx, state: 'pending' })));
    const queries = new BatchQueries(db);
    expect(queries.getBatch('bat_rows')).toBeNull();
    await live.stop();

    const now = new Date('2026-03-01T00:00:00Z');
    const command = { type: 'CreateBatch' as const, batchId: 'bat_rows', settings: settingsAt(now, { name: 'rows' }), actor: 't', now };
    await driver.run('bat_rows', { ...command, total: items.length, items: { stream: 'batchitems-bat_rows', chunkStarts } });
    await runner(db).start();
    expect(rows()).toEqual(items.map((_, idx) => ({ idx, state: 'pending' })));
    expect(queries.getBatch('bat_rows')?.progress).toMatchObject({ total: items.length, pending: items.length });
  });

  it('drops a discarded batch that never was a slice at a time; a batch created after all keeps its rows', async () => {
    // More than two slices of ROWS_PER_DISCARD_SLICE (2,000).
    const items: BatchItem[] = Array.from({ length: 4500 }, (_, n) => ({ inputs: { n } }));
    const driver = new Driver(store);
    const discard = (batchId: string, revision: number) =>
      store.appendToStream(
        `batchitems-${batchId}`,
        [{ type: 'BatchItemsDiscarded', data: { batchId, reason: 'RuleViolation', occurredAt: '2026-03-01T00:00:01Z' } }],
        { expectedRevision: revision },
      );
    const refusedStarts = await driver.chunks('bat_refused', items);
    const now = new Date('2026-03-01T00:00:00Z');
    const command = { type: 'CreateBatch' as const, batchId: 'bat_kept', settings: settingsAt(now, { name: 'kept' }), actor: 't', now };
    await driver.create('bat_kept', items, command);
    const db = readModels();
    const live = runner(db);
    await live.start();
    const counts = () =>
      db.all<{ batch_id: string; items: number; executions: number }>(
        'SELECT batch_id, count(*) AS items, (SELECT count(*) FROM executions e WHERE e.batch_id = i.batch_id) AS executions ' +
          'FROM execution_items i GROUP BY batch_id ORDER BY batch_id',
      );
    expect(counts()).toEqual([
      { batch_id: 'bat_kept', items: 4500, executions: 4500 },
      { batch_id: 'bat_refused', items: 4500, executions: 4500 },
    ]);
    // The intake without a batch is unfinished since its last chunk, as the store recorded it.
    let lastChunk: StoredEvent | undefined;
    for await (const event of store.readStream('batchitems-bat_refused', { direction: 'backwards', maxCount: 1 })) lastChunk = event;
    expect(db.all('SELECT batch_id, last_chunk_ms FROM unfinished_intakes')).toEqual([
      { batch_id: 'bat_refused', last_chunk_ms: lastChunk?.recordedAt.getTime() },
    ]);
    expect(new BatchQueries(db).unfinishedIntakesBefore((lastChunk?.recordedAt.getTime() ?? 0) + 1, 10)).toEqual(['bat_refused']);
    expect(new BatchQueries(db).unfinishedIntakesBefore(lastChunk?.recordedAt.getTime() ?? 0, 10)).toEqual([]);
    await live.stop();

    await discard('bat_refused', refusedStarts.length - 1);
    await discard('bat_kept', Math.ceil(items.length / 7) - 1);
    await runner(db).start();
    // The runner deletes the refused batch's rows between its transactions, one slice a turn.
    const seen = new Set<number>();
    for (let turn = 0; turn < 100 && db.all('SELECT batch_id FROM discarded_item_batches').length > 0; turn++) {
      seen.add(counts().find((row) => row.batch_id === 'bat_refused')?.items ?? 0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(seen).toEqual(new Set([4500, 2500, 500, 0]));
    expect(counts()).toEqual([{ batch_id: 'bat_kept', items: 4500, executions: 4500 }]);
    expect(db.all('SELECT batch_id FROM discarded_item_batches')).toEqual([]);
    expect(db.all('SELECT batch_id FROM unfinished_intakes')).toEqual([]);
    // A rebuild from the first event agrees once settled.
    const rebuilt = readModels();
    await runner(rebuilt).start();
    settleFully(rebuilt, new BatchExecutionsProjection());
    for (const table of ['execution_items', 'executions', 'discarded_item_batches', 'unfinished_intakes'])
      expect(rebuilt.all(`SELECT * FROM ${table} ORDER BY 1`)).toEqual(db.all(`SELECT * FROM ${table} ORDER BY 1`));
  });

  it("copies a chunk's items to execution_items as JSON.stringify wrote them, and the JSON export stays JSON.stringify of the result", async () => {
    const deep = (levels: number): unknown => (levels === 0 ? 'bottom' : [deep(levels - 1)]);
    const proto = JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":"c","toString":"t"}') as Record<string, unknown>;
    const chosen = [
      { inputs: { email: 'a@x.io', n: 1 } },
      { inputs: proto, profile: 'gold "vip"', metadata: proto },
      { inputs: { s: 'é\n"q"\u2028\u2029\u0000\u001f\u007f \ud800 \udfff 😀 \\ / </script>' }, metadata: null },
      { inputs: { n: [1e21, 1e-7, -0, 0.1, 123456789012345680000, 5e-324, 1.7976931348623157e308, -1.5, 2 ** 53 + 2], b: true, z: null } },
      { inputs: { o: {}, a: [], 'k"ey\n': 1, '': 2, é: 3 }, metadata: {}, profile: '' },
      { inputs: {}, metadata: { team: 'red', n: 0.5, list: [{ x: null }] } },
    ] as unknown as BatchItem[];
    // Deeper than SQLite's JSON functions take (1,000 levels), should the columns ever be written by them.
    const tooDeep = { inputs: { d: deep(1100) }, metadata: { m: deep(3) } } as unknown as BatchItem;
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    const generated = fc.sample(
      fc.record(
        {
          inputs: fc.dictionary(text, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
          profile: text,
          metadata: fc.oneof(fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), fc.constant(null)),
        },
        { requiredKeys: ['inputs'] },
      ),
      { seed: 20261202, numRuns: 300 },
    ) as unknown as BatchItem[];
    const items = [...chosen, ...generated, tooDeep];
    const driver = new Driver(store);
    const now = new Date('2026-03-01T00:00:00Z');
    const settings = settingsAt(now, { name: 'j', maxConcurrent: 10 });
    await driver.create('bat_j', items, { type: 'CreateBatch', batchId: 'bat_j', settings, actor: 't', now });
    const db = readModels();
    await runner(db).start();

    // What the projection wrote before it copied in SQL: each item as read back from the store, stringified.
    const readBack = JSON.parse(JSON.stringify(items)) as BatchItem[];
    const stored = db.all<{ idx: number; inputs: string; profile: string | null; metadata: string }>(
      'SELECT idx, inputs, profile, metadata FROM execution_items WHERE batch_id = ? ORDER BY idx',
      'bat_j',
    );
    expect(stored).toEqual(
      readBack.map((item, idx) => ({
        idx,
        inputs: JSON.stringify(item.inputs),
        profile: item.profile ?? null,
        metadata: JSON.stringify(item.metadata ?? {}),
      })),
    );
    const rows = new BatchResults(db).page('bat_j', { after: -1, limit: items.length });
    expect(rows).toHaveLength(items.length);
    for (const row of rows) {
      expect(executionResultJson('bat_j', row, new IsoTimes())).toBe(JSON.stringify(toExecutionResult('bat_j', row, new IsoTimes())));
    }
    const withProto = toExecutionResult('bat_j', rows[1]!, new IsoTimes());
    expect([Object.hasOwn(withProto.inputs, '__proto__'), Object.hasOwn(withProto.metadata, '__proto__'), withProto.profile]).toEqual([
      true,
      true,
      'gold "vip"',
    ]);
  });
});
