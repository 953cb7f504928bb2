import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BatchRepository } from '@flotilla/application';
import { DomainError, isBatch, type BatchState, type ExecutionAccepted } from '@flotilla/domain';
import type { EventMessage, MessageConsumer, MessageTransport } from '@flotilla/messaging';
import { CLOCK, MESSAGE_TRANSPORT, type Clock } from '@flotilla/platform';
import { ReadModelDb } from '@flotilla/projections';

/** setTimeout cannot wait longer than this (about 24.8 days); a later time is reached in steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** After an unexpected failure a timer is tried again this much later. */
const RETRY_MS = 1000;

/**
 * Owns the durable timers: the start time of each pending batch, the due time of each wave, and
 * the callback deadline of each execution accepted by an async target (the acceptance carries it:
 * the workflow's target.callbackTimeoutMs after the target accepted).
 *
 * Nothing is trusted to memory alone. The timers are derived from the batch's state, rebuilt from
 * its stream, every time something that moves them happens (creation, start, wave due, resume,
 * reschedule) and at start-up for every batch still active, so a restart re-plans from the store;
 * due times that passed while the process was down fire at once, in order (the decider declares
 * the missed waves one by one). Which batches are active, and which callbacks are awaited, is kept
 * in this process's state database, maintained from the same events.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Scheduler');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private deadlineTimer: NodeJS.Timeout | null = null;
  private consumer: MessageConsumer | null = null;
  private stopped = false;

  constructor(
    private readonly batches: BatchRepository,
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly state: ReadModelDb,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.state.db.exec(`
      CREATE TABLE IF NOT EXISTS scheduler_active_batches (batch_id TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS scheduler_callback_deadlines (
        batch_id TEXT NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL, deadline INTEGER NOT NULL,
        PRIMARY KEY (batch_id, idx)
      );
      CREATE INDEX IF NOT EXISTS scheduler_deadlines_by_time ON scheduler_callback_deadlines (deadline);
    `);
    for (const { batch_id } of this.state.all<{ batch_id: string }>('SELECT batch_id FROM scheduler_active_batches')) await this.replan(batch_id);
    this.armDeadlineTimer();
    this.consumer = await this.transport.consume(
      {
        group: 'scheduler',
        eventTypes: [
          'BatchCreated',
          'BatchStarted',
          'WaveDue',
          'ExecutionRescheduled',
          'BatchPaused',
          'BatchResumed',
          'BatchCancelled',
          'BatchCompleted',
          'ExecutionAccepted',
          'ExecutionCompleted',
          'ExecutionFailed',
        ],
        concurrency: 16,
      },
      (message) => this.onMessage(message),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.consumer?.stop();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
  }

  private async onMessage(message: EventMessage): Promise<void> {
    const batchId = message.key;
    switch (message.type) {
      case 'BatchCreated':
        this.state.run('INSERT OR IGNORE INTO scheduler_active_batches (batch_id) VALUES (?)', batchId);
        return this.replan(batchId);
      case 'BatchCancelled':
      case 'BatchCompleted':
        this.state.run('DELETE FROM scheduler_active_batches WHERE batch_id = ?', batchId);
        return this.clear(batchId);
      case 'ExecutionAccepted': {
        const data = message.data as ExecutionAccepted['data'];
        if (data.deadline === undefined) return;
        this.state.run(
          'INSERT OR REPLACE INTO scheduler_callback_deadlines (batch_id, idx, attempt, deadline) VALUES (?, ?, ?, ?)',
          batchId,
          data.index,
          data.attempt,
          Date.parse(data.deadline),
        );
        return this.armDeadlineTimer();
      }
      case 'ExecutionCompleted':
      case 'ExecutionFailed':
        this.state.run('DELETE FROM scheduler_callback_deadlines WHERE batch_id = ? AND idx = ?', batchId, (message.data as { index: number }).index);
        return;
      default:
        return this.replan(batchId);
    }
  }

  /** Arms the batch's one timer at its next due time, from its current state. */
  private async replan(batchId: string): Promise<void> {
    const next = nextTimerOf(await this.batches.load(batchId));
    if (next === null) return this.clear(batchId);
    this.arm(batchId, next);
  }

  private arm(batchId: string, atMs: number): void {
    if (this.stopped) return;
    this.clear(batchId);
    const delay = Math.max(0, atMs - this.clock.now().getTime());
    const timer = setTimeout(() => {
      this.timers.delete(batchId);
      if (delay > MAX_TIMEOUT_MS) return void this.replan(batchId);
      void this.fire(batchId);
    }, Math.min(delay, MAX_TIMEOUT_MS));
    this.timers.set(batchId, timer);
  }

  private clear(batchId: string): void {
    const timer = this.timers.get(batchId);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(batchId);
  }

  private async fire(batchId: string): Promise<void> {
    try {
      await this.batches.handle(batchId, (state) =>
        state.status === 'pending'
          ? { type: 'StartBatch', batchId, now: this.clock.now() }
          : { type: 'DeclareDueWaves', batchId, now: this.clock.now() },
      );
      await this.replan(batchId);
    } catch (error) {
      if (error instanceof DomainError) return this.replan(batchId).catch((again: unknown) => this.retryLater(batchId, again));
      this.retryLater(batchId, error);
    }
  }

  private retryLater(batchId: string, error: unknown): void {
    this.logger.warn(`Timer of batch ${batchId} failed, trying again in ${RETRY_MS} ms: ${String(error)}`);
    this.arm(batchId, this.clock.now().getTime() + RETRY_MS);
  }

  /** One timer for the earliest callback deadline; the table is the durable list. */
  private armDeadlineTimer(): void {
    if (this.stopped) return;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    const next = this.state.get<{ deadline: number | null }>('SELECT MIN(deadline) AS deadline FROM scheduler_callback_deadlines');
    if (next?.deadline == null) return;
    const delay = Math.min(Math.max(0, next.deadline - this.clock.now().getTime()), MAX_TIMEOUT_MS);
    this.deadlineTimer = setTimeout(() => void this.expireDeadlines(), delay);
  }

  private async expireDeadlines(): Promise<void> {
    const now = this.clock.now();
    const due = this.state.all<{ batch_id: string; idx: number; attempt: number }>(
      'SELECT batch_id, idx, attempt FROM scheduler_callback_deadlines WHERE deadline <= ? ORDER BY deadline LIMIT 1000',
      now.getTime(),
    );
    const byBatch = new Map<string, { idx: number; attempt: number }[]>();
    for (const row of due) byBatch.set(row.batch_id, [...(byBatch.get(row.batch_id) ?? []), row]);
    for (const [batchId, rows] of byBatch) {
      try {
        // The callback that never came: settled like one, so only an execution still awaiting its
        // callback fails (with its accepted attempt); one whose result arrived meanwhile is refused
        // by the decider and left as it is.
        await this.batches.handleAll(
          batchId,
          rows.map((row) => ({
            type: 'RecordCallbackResult' as const,
            batchId,
            index: row.idx,
            result: { status: 'failed' as const, error: 'No result arrived on the callback before the workflow timeout' },
            now,
          })),
        );
        for (const row of rows) this.state.run('DELETE FROM scheduler_callback_deadlines WHERE batch_id = ? AND idx = ?', batchId, row.idx);
      } catch (error) {
        this.logger.warn(`Expiring callback deadlines of batch ${batchId} failed: ${String(error)}`);
      }
    }
    this.armDeadlineTimer();
  }
}

/** When the batch's timer should fire next: its start time while pending, its next undeclared wave while running. */
export const nextTimerOf = (state: BatchState): number | null => {
  if (!isBatch(state)) return null;
  if (state.status === 'pending') return Date.parse(state.settings.startAt);
  if (state.status !== 'running') return null;
  return state.executions.nextDueAfter(state.declaredThroughMs)?.atMs ?? null;
};
