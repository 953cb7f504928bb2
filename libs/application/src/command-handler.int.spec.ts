import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventRegistry, RuleViolation, WorkflowAlreadyExists, type AddWorkflowVersion } from '@flotilla/domain';
import { SqliteEventStore, type EventStore } from '@flotilla/event-store';
import { BatchCommandHandler } from './batch-command-handler';
import { CommandHandler, type Decider } from './command-handler';
import { WorkflowRepository } from './workflow-repository';

type Counter = { readonly value: number };
type Add = { readonly by: number };
type Added = { readonly type: 'Added'; readonly data: { readonly by: number } };

/** A counter that refuses to go past 10: enough to see conflicts, retries, refusals and caching. */
const counter: Decider<Counter, Add, Added> = {
  decide: (command, state) => {
    if (state.value + command.by > 10) throw new RuleViolation(`${state.value} + ${command.by} is over 10`);
    return [{ type: 'Added', data: { by: command.by } }];
  },
  evolve: (state, event) => ({ value: state.value + event.data.by }),
  initialState: () => ({ value: 0 }),
  events: new EventRegistry<Added>({ Added: { schemaVersion: 1 } }),
};

const definition = {
  name: 'w',
  inputs: [],
  target: { url: 'http://127.0.0.1:1/run', timeoutMs: 1000, callbackTimeoutMs: 1000, mode: 'sync' as const },
  retry: { maxAttempts: 1, backoffMs: 0, maxThrottleSeconds: 3600 },
};
const register = (workflowId: string, isNew = true): AddWorkflowVersion => ({
  type: 'AddWorkflowVersion',
  workflowId,
  isNew,
  definition,
  actor: 't',
  now: new Date(),
});

describe('CommandHandler', () => {
  let dir: string;
  let store: EventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-handler-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const handler = (maxCachedStates?: number) =>
    new CommandHandler(store, counter, {
      streamOf: (id) => `counter-${id}`,
      ...(maxCachedStates === undefined ? {} : { maxCachedStates }),
    });

  it('decides again on the latest state when another writer appended first', async () => {
    const first = handler();
    const second = handler();
    await first.handle('a', { by: 4 });
    await second.load('a'); // second's cached state is now behind once first appends again
    await first.handle('a', { by: 4 });
    await expect(second.handle('a', { by: 4 })).rejects.toThrow(RuleViolation);
    expect((await second.handle('a', { by: 2 })).state).toEqual({ value: 10 });
    expect(await handler().load('a')).toEqual({ value: 10 });
  });

  it('handleAll decides each command on the state the previous ones left, skipping the refused', async () => {
    const result = await handler().handleAll('b', [{ by: 6 }, { by: 6 }, { by: 4 }]);
    expect(result.events.map((event) => event.data.by)).toEqual([6, 4]);
    expect(result.errors.map((error) => error?.constructor)).toEqual([undefined, RuleViolation, undefined]);
    expect(result.state).toEqual({ value: 10 });
    expect(await handler().load('b')).toEqual({ value: 10 });
  });

  it('a group refused as a whole leaves no folded state behind in the cache', async () => {
    const shared = handler();
    await shared.handle('c', { by: 5 });
    // The first command folds into the cached state before the second throws a non-domain error.
    const decide: Decider<Counter, Add, Added>['decide'] = (command, state) => {
      if (command.by < 0) throw new Error('boom');
      return counter.decide(command, state);
    };
    const exploding = new CommandHandler(store, { ...counter, decide }, { streamOf: (id) => `counter-${id}` });
    await exploding.load('c');
    await expect(exploding.handleAll('c', [{ by: 1 }, { by: -1 }])).rejects.toThrow('boom');
    expect(await exploding.load('c')).toEqual({ value: 5 });
  });

  it('works the same without a cache', async () => {
    const uncached = handler(0);
    for (let i = 0; i < 5; i++) await uncached.handle('d', { by: 2 });
    await expect(uncached.handle('d', { by: 1 })).rejects.toThrow(RuleViolation);
    expect(await uncached.load('d')).toEqual({ value: 10 });
  });

  it('a workflow registered twice at once exists once: one success, the other refused as already existing', async () => {
    const processes = Array.from({ length: 4 }, () => new WorkflowRepository(store));
    const outcomes = await Promise.allSettled(processes.map((workflows) => workflows.add(register('wf-race'))));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refusals = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(refusals.map((refusal) => refusal.reason)).toEqual([
      expect.any(WorkflowAlreadyExists),
      expect.any(WorkflowAlreadyExists),
      expect.any(WorkflowAlreadyExists),
    ]);
    expect((await new WorkflowRepository(store).load('wf-race'))?.versions).toHaveLength(1);
  });

  it('versions added at once get distinct numbers', async () => {
    await new WorkflowRepository(store).add(register('wf-v'));
    const processes = Array.from({ length: 3 }, () => new WorkflowRepository(store));
    await Promise.all(processes.map((workflows) => workflows.add(register('wf-v', false))));
    expect((await new WorkflowRepository(store).load('wf-v'))?.versions.map((version) => version.version)).toEqual([1, 2, 3, 4]);
  });
});

describe('events written by main at 4463914', () => {
  const fixture = join(__dirname, '../../state/test-fixtures/data-main-4463914');
  let dir: string;
  let store: EventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-old-events-'));
    copyFileSync(join(fixture, 'events.sqlite'), join(dir, 'events.sqlite'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('load through the upcaster: a v1 workflow keeps its callback wait as callbackTimeoutMs, its call timeout capped', async () => {
    const workflows = new WorkflowRepository(store);
    const async = await workflows.load('async-wf');
    expect(async?.versions[0]?.target).toEqual({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/run$/),
      mode: 'async',
      timeoutMs: 900_000,
      callbackTimeoutMs: 3_600_000,
    });
    const sync = await workflows.load('sync-wf');
    expect(sync?.versions[0]?.target).toMatchObject({ mode: 'sync', timeoutMs: 5000, callbackTimeoutMs: 5000 });
    // Versions written before 429s were bounded separately read with the default bound, an hour.
    expect(sync?.versions[0]?.retry.maxThrottleSeconds).toBe(3600);
    // A version added today is written with schema 3 and reads back as it was written.
    await workflows.add({
      ...register('sync-wf', false),
      definition: {
        ...definition,
        target: { ...definition.target, timeoutMs: 2000, callbackTimeoutMs: 7000 },
        retry: { ...definition.retry, maxThrottleSeconds: 60 },
      },
    });
    const reread = await new WorkflowRepository(store).load('sync-wf');
    expect(reread?.versions.map((version) => version.target)).toEqual([
      sync?.versions[0]?.target,
      expect.objectContaining({ timeoutMs: 2000, callbackTimeoutMs: 7000 }),
    ]);
    const metadata: unknown[] = [];
    for await (const event of store.readStream('workflow-sync-wf')) metadata.push(event.metadata['schemaVersion']);
    expect(reread?.versions[1]?.retry.maxThrottleSeconds).toBe(60);
    expect(metadata).toEqual([undefined, 3]);
  });

  it('batches written then still load, with their counts and status', async () => {
    const batches = new BatchCommandHandler(store);
    const done = await batches.load('bat_01m8sh7zrmbtp9yndc78x5dajk');
    expect(done).toMatchObject({ status: 'completed', counts: { total: 5, completed: 5 } });
    expect(await batches.load('bat_01m8sh8013m3fx1hbwjj2r7m7q')).toMatchObject({ status: 'pending', counts: { total: 3, pending: 3 } });
  });
});
