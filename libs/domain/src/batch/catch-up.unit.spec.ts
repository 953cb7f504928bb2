import fc from 'fast-check';
import { decide, type BatchCommand } from './batch.decide';
import type { BatchEvent, BatchReplanned, BatchSettings, ExecutionTriggered, WaveDue } from './batch.events';
import { evolve, isBatch, type Batch, type BatchState } from './batch.state';
import { catchUpGraceMs } from './catch-up';
import { BATCH_ID, at, created, fold, run, types } from './batch.fixtures';

/** Catch-up keeps the pacing: overdue waves of a paced batch are re-planned from now, as a resume re-plans them. */

const batchOf = (state: BatchState): Batch => {
  if (!isBatch(state)) throw new Error('expected a batch');
  return state;
};
const declare = (now: Date): BatchCommand => ({ type: 'DeclareDueWaves', batchId: BATCH_ID, now });
const trigger = (now: Date, limit = 100, continuing = false): BatchCommand => ({
  type: 'TriggerDueExecutions',
  batchId: BATCH_ID,
  now,
  limit,
  ...(continuing ? { continuing } : {}),
});
const executeAt = (state: BatchState, index: number): string => new Date(batchOf(state).executions.executeAtOf(index)).toISOString();
const replannedOf = (events: readonly BatchEvent[]): BatchReplanned['data'] => {
  const found = events.find((event): event is BatchReplanned => event.type === 'BatchReplanned');
  if (!found) throw new Error('no BatchReplanned');
  return found.data;
};

describe('the catch-up grace', () => {
  it('is half the interval, at most 2 s; an interval of 0 has no pacing to keep', () => {
    expect(catchUpGraceMs({ maxConcurrent: 5, batchIntervalSeconds: 1 })).toBe(500);
    expect(catchUpGraceMs({ maxConcurrent: 5, batchIntervalSeconds: 3 })).toBe(1500);
    expect(catchUpGraceMs({ maxConcurrent: 5, batchIntervalSeconds: 60 })).toBe(2000);
    expect(catchUpGraceMs({ maxConcurrent: 5, batchIntervalSeconds: 0 })).toBeNull();
  });
});

describe('the scheduler finds waves overdue (DeclareDueWaves)', () => {
  // 15 items, 5 a wave every 60 s from 0: waves at 0, 60, 120.
  it('re-plans a paced batch from now instead of declaring the missed waves, and declares the new first wave', () => {
    const events = decide(declare(at(125)), fold(created(15)));
    expect(types(events)).toEqual(['BatchReplanned', 'WaveDue']);
    expect(events[0]!.data).toEqual({
      batchId: BATCH_ID,
      plan: 1,
      pending: 15,
      planEndsAt: at(245).toISOString(),
      reason: 'catch-up after downtime',
      occurredAt: at(125).toISOString(),
      actor: 'system',
    });
    expect((events[1] as WaveDue).data).toEqual({
      batchId: BATCH_ID,
      plan: 1,
      wave: 0,
      dueAt: at(125).toISOString(),
      occurredAt: at(125).toISOString(),
    });
    const state = fold(events, fold(created(15)));
    expect(Array.from({ length: 15 }, (_, index) => executeAt(state, index))).toEqual(
      Array.from({ length: 15 }, (_, index) => at(125 + Math.floor(index / 5) * 60).toISOString()),
    );
    // The next waves come one interval apart from the re-plan, and nothing is declared twice.
    expect(decide(declare(at(125)), state)).toEqual([]);
    expect((decide(declare(at(185)), state) as WaveDue[]).map((wave) => [wave.data.plan, wave.data.wave, wave.data.dueAt])).toEqual([
      [1, 1, at(185).toISOString()],
    ]);
  });

  it('declares a wave late by no more than the grace as planned', () => {
    expect(types(decide(declare(at(2)), fold(created(15))))).toEqual(['WaveDue']);
    expect(types(decide(declare(at(2.001)), fold(created(15))))).toEqual(['BatchReplanned', 'WaveDue']);
  });

  it('re-plans only the still-pending executions, in their original order', () => {
    const { state } = run(
      created(15),
      declare(at(0)),
      trigger(at(0)), // 0-4
      { type: 'CancelExecution', batchId: BATCH_ID, index: 6, now: at(1), actor: 'ops' },
      declare(at(300)),
    );
    expect(batchOf(state).plan).toBe(1);
    const pending = [5, 7, 8, 9, 10, 11, 12, 13, 14];
    expect(pending.map((index) => executeAt(state, index))).toEqual(
      pending.map((_, rank) => at(300 + Math.floor(rank / 5) * 60).toISOString()),
    );
  });

  it('a burst batch declares every missed wave at once, as before', () => {
    const events = decide(declare(at(125)), fold(created(15, { catchUp: 'burst' })));
    expect(types(events)).toEqual(['WaveDue', 'WaveDue', 'WaveDue']);
  });

  it('an interval of 0 is never re-planned', () => {
    expect(types(decide(declare(at(3600)), fold(created(15, { batchIntervalSeconds: 0 }))))).toEqual(['WaveDue']);
  });
});

describe('the executor finds its due executions overdue (TriggerDueExecutions)', () => {
  it('re-plans a paced batch and triggers the new plan first wave, due now, in the same decision', () => {
    // The wave at 60 was declared on time, and reached the executor 30 s later (a broker outage).
    const { events: declared } = run(created(15), declare(at(0)), trigger(at(0)), declare(at(60)));
    const events = decide(trigger(at(90)), fold(declared));
    expect(types(events)).toEqual(['BatchReplanned', ...Array(5).fill('ExecutionTriggered')]);
    expect(replannedOf(events)).toMatchObject({ plan: 1, pending: 10, planEndsAt: at(150).toISOString(), actor: 'system' });
    expect(
      events.slice(1).map((event) => [(event as ExecutionTriggered).data.index, (event as ExecutionTriggered).data.executeAt]),
    ).toEqual([5, 6, 7, 8, 9].map((index) => [index, at(90).toISOString()]));
    const state = fold(events, fold(declared));
    // The next wave is one interval later; the scheduler's next timer is there.
    expect(batchOf(state).executions.nextDueAfter(batchOf(state).declaredThroughMs)).toEqual({ atMs: at(150).getTime(), wave: 1 });
    expect(decide(trigger(at(100)), state)).toEqual([]);
  });

  it('triggers the rest of a wave in later steps (continuing) without taking it for a late one', () => {
    const declared = run(created(15, { maxConcurrent: 10, batchIntervalSeconds: 2 }), declare(at(0))).events;
    const first = run(declared, trigger(at(0), 4));
    expect(types(first.events.slice(declared.length))).toEqual(Array(4).fill('ExecutionTriggered'));
    // 3 s later the rest of the wave is still being triggered, 4 at a time.
    const next = decide(trigger(at(3), 4, true), first.state);
    expect(next.map((event) => (event as ExecutionTriggered).data.index)).toEqual([4, 5, 6, 7]);
    // A new wave message whose first step meets the same lateness re-plans.
    expect(types(decide(trigger(at(3), 4), first.state))[0]).toBe('BatchReplanned');
  });

  it('completes the batch in the same decision when the new first wave holds every pending execution', () => {
    const events = decide(trigger(at(500)), fold(created(4, { maxConcurrent: 5 })));
    expect(types(events)).toEqual([
      'BatchReplanned',
      'ExecutionTriggered',
      'ExecutionTriggered',
      'ExecutionTriggered',
      'ExecutionTriggered',
      'BatchCompleted',
    ]);
    expect(batchOf(fold(events, fold(created(4, { maxConcurrent: 5 })))).status).toBe('completed');
  });

  it('a burst batch triggers everything due at once, as before', () => {
    const events = decide(trigger(at(125)), fold(created(15, { catchUp: 'burst' })));
    expect(types(events)).toEqual([...Array(15).fill('ExecutionTriggered'), 'BatchCompleted']);
  });
});

describe('pacing over random outages (property)', () => {
  /**
   * A simulated deployment: every `tickMs` the scheduler declares the due waves, and the executor
   * answers each declared wave (what its WaveDue messages make it do), in steps of 7 as the
   * executor's trigger limit does. An outage `down` stops both (a crash, kill -9); an outage
   * `broker` stops only the messages to the executor (a broker outage): the scheduler goes on
   * declaring, and the executor meets the declared waves late when the broker is back. Returns when
   * each execution was triggered.
   */
  type Outage = readonly [from: number, to: number, kind: 'down' | 'broker'];
  const simulate = (settings: Partial<BatchSettings>, total: number, outages: readonly Outage[], tickMs: number) => {
    let state: BatchState = fold(created(total, settings));
    const apply = (command: BatchCommand): BatchEvent[] => {
      const events = decide(command, state);
      state = events.reduce<BatchState>(evolve, state);
      return events;
    };
    const running = (): boolean => batchOf(state).status === 'running';
    const triggeredAt: number[] = [];
    let unanswered = 0;
    for (let nowMs = at(0).getTime(); running(); nowMs += tickMs) {
      const offset = nowMs - at(0).getTime();
      const outage = outages.find(([from, to]) => offset >= from && offset < to)?.[2];
      if (outage === 'down') continue;
      unanswered += apply({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: new Date(nowMs) }).filter(
        (event) => event.type === 'WaveDue',
      ).length;
      if (outage === 'broker') continue;
      for (; unanswered > 0 && running(); unanswered--) {
        for (let step = 0; running(); step++) {
          const events = apply({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: new Date(nowMs), limit: 7, continuing: step > 0 });
          const triggered = events.filter((event) => event.type === 'ExecutionTriggered');
          triggeredAt.push(...triggered.map(() => nowMs));
          if (triggered.length === 0) break;
        }
      }
    }
    return triggeredAt;
  };

  const outagesArbitrary = fc.array(
    fc
      .tuple(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 1, max: 30_000 }), fc.constantFrom('down' as const, 'broker' as const))
      .map(([from, length, kind]): Outage => [from, from + length, kind]),
    { maxLength: 4 },
  );

  it('a paced batch never starts more than maxConcurrent executions within an interval less the grace, whatever the outages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(1, 2, 5),
        fc.integer({ min: 1, max: 40 }),
        outagesArbitrary,
        (maxConcurrent, batchIntervalSeconds, total, outages) => {
          const tickMs = 100;
          const times = simulate({ maxConcurrent, batchIntervalSeconds }, total, outages, tickMs);
          expect(times).toHaveLength(total);
          const minGap = batchIntervalSeconds * 1000 - (catchUpGraceMs({ maxConcurrent, batchIntervalSeconds }) ?? 0);
          for (let i = 0; i + maxConcurrent < times.length; i++)
            expect(times[i + maxConcurrent]! - times[i]!).toBeGreaterThanOrEqual(minGap);
        },
      ),
      { numRuns: 200, seed: 20261201 },
    );
  });

  it('a burst batch does fire missed waves together after an outage (what paced prevents)', () => {
    for (const kind of ['down', 'broker'] as const) {
      const times = simulate({ maxConcurrent: 2, batchIntervalSeconds: 1, catchUp: 'burst' }, 10, [[500, 4500, kind]], 100);
      // Waves at 1, 2, 3, 4 s fell in the outage: eight executions at 4.5 s.
      expect([kind, times.filter((time) => time === at(4.5).getTime()).length]).toEqual([kind, 8]);
      const paced = simulate({ maxConcurrent: 2, batchIntervalSeconds: 1 }, 10, [[500, 4500, kind]], 100);
      expect([kind, paced.filter((time) => time === at(4.5).getTime()).length]).toEqual([kind, 2]);
    }
  });
});
