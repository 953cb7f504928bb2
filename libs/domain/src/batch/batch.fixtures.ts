import type { BatchEvent, BatchSettings } from './batch.events';
import { decide, type BatchCommand } from './batch.decide';
import { evolve, initialBatchState, type BatchState } from './batch.state';

/** Test helpers: build a batch from events and run commands against it, given/when/then style. */
export const T0 = new Date('2026-01-01T00:00:00.000Z');
export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
export const BATCH_ID = 'bat_test';

export const settings = (overrides: Partial<BatchSettings> = {}): BatchSettings => ({
  name: 'nightly import',
  workflowId: 'wf',
  workflowVersion: 1,
  startAt: T0.toISOString(),
  maxConcurrent: 5,
  batchIntervalSeconds: 60,
  priority: 50,
  metadata: {},
  catchUp: 'paced',
  ...overrides,
});

export const created = (total = 12, overrides: Partial<BatchSettings> = {}, now = T0): BatchEvent[] =>
  decide(
    {
      type: 'CreateBatch',
      batchId: BATCH_ID,
      settings: settings(overrides),
      total,
      items: { stream: `batchitems-${BATCH_ID}`, chunkStarts: [0] },
      actor: 'tester',
      now,
    },
    initialBatchState(),
  );

export const fold = (events: readonly BatchEvent[], state: BatchState = initialBatchState()): BatchState =>
  events.reduce<BatchState>(evolve, state);

/** Runs commands in order against a batch built from `events`, folding each decision in; returns all events. */
export const run = (events: readonly BatchEvent[], ...commands: BatchCommand[]): { state: BatchState; events: BatchEvent[] } => {
  let state = fold(events);
  const all = [...events];
  for (const command of commands) {
    const decided = decide(command, state);
    state = fold(decided, state);
    all.push(...decided);
  }
  return { state, events: all };
};

export const types = (events: readonly BatchEvent[]): string[] => events.map((event) => event.type);
