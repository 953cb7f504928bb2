import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BatchCommandHandler, ItemsReader, SharedLoads, WorkflowRepository } from '@flotilla/application';
import {
  BatchNotFound,
  IllegalExecutionTransition,
  backoffDelay,
  executionIdOf,
  findVersion,
  isBatch,
  type Batch,
  type BatchItem,
  type BatchState,
  type ExecutionTriggered,
  type Metadata,
  type WorkflowVersion,
} from '@flotilla/domain';
import type { Delivery, TypedMessage } from '@flotilla/messaging';
import { CLOCK, CONFIG, Metrics, SecretBox, callbackTokenOf, type Clock, type PlatformConfig } from '@flotilla/platform';
import { CallSlots, type ReleaseSlot, type SlotCallbacks, type SlotRequest } from './call-slots';
import { HOLD_RECHECK_MS, HeldBatches } from './held-batches';
import { IndexSet } from './index-set';
import { OutcomeWriter, type OutcomeCommand } from './outcome-writer';
import { ParkedBatches } from './parked-batches';
import { retryDelay, isRetryable } from './retry-policy';
import { TargetCalls, type CallResult } from './target-client';
import { WorkflowThrottle, type ThrottlePermit } from './workflow-throttle';
import { WavePacer, pacingOf, type Pacing } from './wave-pacer';

/** The JSON a workflow target receives; `attempt` counts from 1. */
export interface TargetPayload {
  readonly executionId: string;
  readonly batchId: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly inputs: Readonly<Record<string, unknown>>;
  /** Resolved when the items were ingested; null when the batch uses none. */
  readonly profile: string | null;
  /** The batch's metadata overlaid with the item's own. */
  readonly metadata: Metadata;
  readonly attempt: number;
  /** Where an async target posts the outcome. */
  readonly callbackUrl: string;
  /**
   * What an async target sends back with the outcome (body field `callbackToken` or header
   * `X-Callback-Token`): without it the callback is refused. Sent to sync targets too, where it
   * settles nothing.
   */
  readonly callbackToken: string;
  /** The item's secrets (an Extend run's `secrets`), opened for this call only; absent when it has none. */
  readonly secrets?: Readonly<Record<string, unknown>>;
}

interface Execution {
  readonly batchId: string;
  readonly executionId: string;
  readonly index: number;
  readonly version: WorkflowVersion;
  readonly slot: SlotRequest;
  readonly firstAttempt: number;
}

/** How a delivery hears of its execution's end: a deferred message's settle function, or a waiting promise's. */
type End = (outcome: 'done' | 'failed', error?: unknown) => void;

/** What the line asks of the dispatcher: one object for all the executions in it. */
interface Line {
  granted(handling: Handling, release: ReleaseSlot): void;
  aborted(handling: Handling, reason: unknown): void;
  ready(handling: Handling): boolean;
}

/** The executions of one batch handled here, by index; its id kept once for all of them. */
interface RunningBatch {
  readonly batchId: string;
  readonly byIndex: Map<number, Handling>;
  /** The slot request of its executions, shared while it is the same. */
  slot: SlotRequest | null;
  /**
   * While the batch has executions parked (past its window), their indexes; null otherwise. The
   * batch's new executions join them, so its order holds, and come back as the handled ones go.
   */
  parked: IndexSet | null;
  /** Of `byIndex`, the executions here between their delivery and their first call; null when none is. */
  starting: Set<Handling> | null;
  /** Who waits for some of `starting` to get there (`firstCallsOut`); null when no one does. */
  startWaiters: StartWaiter[] | null;
  /** Of `byIndex`, the executions taken back from `parked`: no message stands for them. */
  unparked: number;
  /** How its first calls are paced here (WavePacer), as its state said when its latest execution was checked. */
  pacing: Pacing | null;
  /** Who waits for the batch to have room here (`roomFor`); null when no one does. */
  roomWaiters: RoomWaiter[] | null;
  /** When an execution of the batch last ended here (ms, performance.now()): what tells room coming from a stall. */
  lastEndMs: number;
}

/** A wait for the batch's executions here to fall to half its window. */
interface RoomWaiter {
  readonly resolve: (room: Room) => void;
  readonly reject: (reason: unknown) => void;
  timer: NodeJS.Timeout;
}

/** What a wait for room ends with: room made by executions ending, or none of them ending for ROOM_STALL_MS. */
export type Room = 'room' | 'stalled';

/**
 * How long a wait for room lasts with none of the batch's executions ending here: the batch is
 * held, throttled, or its calls are slower than this. The trigger then goes on as if no one waited,
 * since waiting would only hold its message (and a trigger slot) without making room.
 */
export const ROOM_STALL_MS = 5_000;

/** A wait for these executions to have made their first call, or stopped short of it. */
interface StartWaiter {
  readonly pending: Set<Handling>;
  readonly resolve: () => void;
}

/**
 * One execution handled here, from its check to its outcome. It is both the execution the run loop
 * works on and the callbacks of its place in the call slots' line, so an execution waiting in a
 * queue of a million costs this object, its waiter in the line and its message's window entry: no
 * closures, no promises. The deliveries of the execution that came while it was handled end with it.
 */
class Handling implements Execution, SlotCallbacks {
  version!: WorkflowVersion;
  slot!: SlotRequest;
  firstAttempt = 1;
  /** Set by `granted` when its first call goes out on that slot at once (no hold, a throttle permit). */
  callComing = false;
  /** Runs tried: a run that threw is tried again, up to RUN_TRIES. */
  tries = 1;
  private end: End | null = null;
  private more: End[] | null = null;

  constructor(
    private readonly line: Line,
    readonly running: RunningBatch,
    readonly index: number,
    /** Taken back from the batch's parked executions: no message stands for it. */
    readonly unparked = false,
  ) {}

  get batchId(): string {
    return this.running.batchId;
  }

  get executionId(): string {
    return executionIdOf(this.running.batchId, this.index);
  }

  granted(release: ReleaseSlot): void {
    this.line.granted(this, release);
  }

  aborted(reason: unknown): void {
    this.line.aborted(this, reason);
  }

  ready(): boolean {
    return this.line.ready(this);
  }

  follow(end: End): void {
    if (this.end === null) this.end = end;
    else (this.more ??= []).push(end);
  }

  /** Ends every delivery that follows it, each once. */
  finish(outcome: 'done' | 'failed', error?: unknown): void {
    const ends = [this.end, ...(this.more ?? [])];
    this.end = null;
    this.more = null;
    for (const end of ends) end?.(outcome, error);
  }
}

/** A call that may start now: a throttle permit and a call slot. */
interface Admitted {
  readonly permit: ThrottlePermit;
  readonly release: ReleaseSlot;
}

/** How long a parked execution whose run failed (RUN_TRIES times) waits before it is taken back again. */
const UNPARK_RETRY_MS = 5000;

/**
 * How often a run that failed (its handler threw: the store refused an append, a read failed) is
 * tried again here before its message is left unacknowledged for the next start; the transport's
 * default, which did this before messages were deferred.
 */
const RUN_TRIES = 5;
const RUN_RETRY_BASE_MS = 200;

/** A 429's reopening time, and when it came. */
interface Throttled {
  readonly until: Date;
  readonly at: Date;
}

interface AttemptFailure {
  readonly error: string;
  readonly statusCode?: number;
  readonly retryable: boolean;
  readonly retryAfter?: string;
}

/**
 * Carries out one triggered execution: calls its workflow target, retries what may succeed later,
 * and records the outcome. Its message stays unacknowledged until what it decided is durably
 * appended: the handler checks the batch state, then defers the message (Delivery.defer) and puts a
 * light entry in the call slots' line, a waiter with callbacks and no pending promise, so a deep
 * queue costs hundreds of bytes per execution rather than a handler chain (docs/performance.md).
 * The message is settled 'done' once the outcome is recorded (or nothing is left to do), 'failed'
 * when the executor stops or recording keeps failing: then it is delivered again after a restart.
 *
 * Each call takes one of the executor's call slots (CallSlots: a global limit and one per
 * workflow) and gives it back when the call ends, so a workflow whose calls hang holds at most its
 * share of them, and the messages of other workflows still get through. A held batch or a closed
 * workflow is passed over in the line (the entry's `ready`), keeping its place and no slot, and so
 * is a paced batch that had its wave's worth of first calls within its interval (WavePacer).
 * Retries wait here, outside any slot but keeping their message: a failing target then slows its
 * own executions down instead of being called ever faster. Each failed attempt that will be retried
 * is recorded first, so the wait is visible, and a redelivered execution (after a restart) goes on
 * from the attempts the batch state has recorded.
 *
 * A 429 is not a failure of the execution but a target asking for less: the WorkflowThrottle slows
 * the whole workflow down, and the execution is called again when it allows, using up no attempt
 * and recording nothing per 429 (the batch records one BatchThrottled/BatchThrottleLifted pair per
 * episode). Only `retry.maxThrottleSeconds` of continuous throttling fails it.
 */
@Injectable()
export class ExecutionDispatcher {
  private readonly logger = new Logger('Executor');
  /** Aborted on shutdown: calls and waits in flight end at once and their messages are redelivered later. */
  private readonly stopping = new AbortController();
  /** Workflow versions never change once added. */
  private readonly versions = new Map<string, WorkflowVersion>();
  /** The executions being handled here, by batch and index: one delivery of each at a time. */
  private readonly running = new Map<string, RunningBatch>();
  private readonly line: Line = {
    granted: (handling, release) => this.granted(handling, release),
    aborted: (handling, reason) => this.end(handling, 'failed', reason),
    ready: (handling) => {
      if (this.held.isHeld(handling.batchId)) {
        this.recheckHoldsSoon();
        return false;
      }
      if (!this.pacer.mayStart(handling.batchId, handling.running.pacing)) return false;
      return this.throttle.mayStartNow(handling.version.workflowId);
    },
  };
  /** Set while a recheck of the held batches' states is due (a hold learnt from a stale read may have been released unseen). */
  private holdRecheck: NodeJS.Timeout | null = null;
  /** Every message reads its batch's state; concurrent messages of a batch share the reads. */
  private readonly batchStates: SharedLoads<BatchState>;
  /** Batches with a throttling episode open, as far as this process knows: their next non-429 answer lifts it. */
  private readonly throttledBatches = new Set<string>();
  /** Opens the items' sealed secrets, under the key every process of the deployment shares. */
  private readonly secrets: SecretBox;
  /** Keeps a paced batch's first calls to its pace when its triggers come in late and together. */
  private readonly pacer: WavePacer;

  constructor(
    private readonly batches: BatchCommandHandler,
    private readonly workflows: WorkflowRepository,
    private readonly items: ItemsReader,
    private readonly client: TargetCalls,
    private readonly writer: OutcomeWriter,
    private readonly slots: CallSlots,
    private readonly throttle: WorkflowThrottle,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: PlatformConfig,
    /** Last, with defaults: the dispatcher's tests that hold and park nothing need not make them. */
    private readonly held: HeldBatches = new HeldBatches(),
    private readonly parked: ParkedBatches = new ParkedBatches(),
    @Optional() @Inject(Metrics) private readonly metrics: Metrics | null = null,
  ) {
    this.batchStates = new SharedLoads((batchId) => this.batches.load(batchId));
    this.secrets = new SecretBox(config.secretsKey);
    this.pacer = new WavePacer(() => clock.now().getTime());
    held.onReleased(() => slots.poke());
  }

  /**
   * Checks the execution (its batch state, its workflow version), then defers the message and puts
   * the execution in line, and returns: with `delivery`, as soon as it is in line; without (a
   * caller with no transport behind it, the tests), once it is done, rejecting when it failed.
   * A check that throws (the batch cannot be read) rejects before anything is deferred, so the
   * transport retries it as any handler's error.
   */
  async handle(message: TypedMessage<ExecutionTriggered>, delivery?: Delivery): Promise<void> {
    const { batchId, index } = message.data;
    const running = this.runningOf(batchId);
    // Another delivery of this execution is already in line or calling here (a redelivery while the
    // first still waits): the state check cannot tell, as the first records its outcome only after
    // its call. This one ends with it, and fails with it, so it is redelivered if that one is.
    const handled = running.byIndex.get(index);
    if (handled !== undefined) return this.follow(handled, delivery);
    // Past the batch's window, or while some of it is parked already (so its order holds): parked.
    // The message is acknowledged when this returns; the batch's durable mark stands for it.
    if (running.parked !== null || running.byIndex.size >= this.config.executorBatchWindow) return this.park(running, index);
    const handling = new Handling(this.line, running, index);
    running.byIndex.set(index, handling);
    (running.starting ??= new Set()).add(handling);
    let admitted: boolean;
    try {
      admitted = await this.admit(handling);
    } catch (error) {
      this.end(handling, 'failed', error);
      throw error;
    }
    if (!admitted) return this.end(handling, 'done');
    const ended = this.follow(handling, delivery);
    this.slots.enqueue(handling.slot, this.stopping.signal, handling);
    // No call on a slot at once (every slot busy, the batch held, the workflow throttled): it waits in line.
    if (!handling.callComing) this.leftStarting(handling);
    return ended;
  }

  /**
   * Resolves once each execution of the batch that is here now between its delivery and its first
   * call (its batch state being read, or a slot granted and its item being read) has made that call,
   * or stopped short of it (it waits in line for a slot or to retry, or has ended). Executions that
   * come later are not waited for, so this cannot be held up by a steady flow of them. The wave
   * trigger waits for this after a wave's first append, so that its next decision, which holds the
   * batch's lock through its append, does not come between those first executions and their calls.
   */
  firstCallsOut(batchId: string): Promise<void> {
    const running = this.running.get(batchId);
    if (running === undefined || running.starting === null) return Promise.resolve();
    const pending = new Set(running.starting);
    return new Promise<void>((resolve) => (running.startWaiters ??= []).push({ pending, resolve }));
  }

  /**
   * After a restart: the executions of the batches marked as parked, found from their batch state
   * (triggered, not called back, no outcome), parked again. Called before the messages flow, so
   * none of them is in line yet; a redelivered message of one of them is then parked with it.
   */
  async recoverParked(): Promise<void> {
    for (const batchId of this.parked.all()) {
      const batch = await this.batchStates.load(batchId);
      if (!isBatch(batch)) {
        this.parked.unmark(batchId);
        continue;
      }
      const running = this.runningOf(batchId);
      const parked = (running.parked ??= new IndexSet());
      for (let index = 0; index < batch.executions.total; index++) if (stillToCall(batch, index)) parked.add(index);
      this.unpark(running);
    }
  }

  /**
   * Resolves at once while the batch has fewer than its window (EXECUTOR_BATCH_WINDOW) of
   * executions here, in hand or parked; otherwise once they have fallen to half of it ('room'), or
   * once none of them has ended here for ROOM_STALL_MS ('stalled'). Rejects when the executor
   * stops. The wave trigger asks this between its appends, so that a batch whose waves are all due
   * at once (interval 0, or a late start) is triggered as fast as it is called rather than all up
   * front: the executions it triggers early would only be parked, while the appends, read-model
   * updates and deliveries of up to a million triggers take the event loop from the calls.
   */
  roomFor(batchId: string): Promise<Room> {
    const running = this.running.get(batchId);
    if (running === undefined || this.heldHere(running) < this.config.executorBatchWindow) return Promise.resolve('room');
    if (this.stopping.signal.aborted) return Promise.reject(this.stopping.signal.reason);
    return new Promise<Room>((resolve, reject) => {
      const waiter: RoomWaiter = { resolve, reject, timer: setTimeout(() => this.checkStall(running, waiter), ROOM_STALL_MS).unref() };
      (running.roomWaiters ??= []).push(waiter);
    });
  }

  /** Every execution here, of every batch: in line, calling, waiting to retry, or parked. */
  queueDepth(): number {
    let depth = 0;
    for (const running of this.running.values()) depth += this.heldHere(running);
    return depth;
  }

  /** The batch's executions here: in line, calling or waiting to retry, and parked. */
  queuedOf(batchId: string): { inLine: number; parked: number } {
    const running = this.running.get(batchId);
    return { inLine: running?.byIndex.size ?? 0, parked: running?.parked?.size ?? 0 };
  }

  /** Ends calls, retry waits and places in line; their messages are settled 'failed', so they are delivered again after a restart. */
  stop(): void {
    this.stopping.abort(new Error('The executor is stopping'));
    if (this.holdRecheck !== null) clearTimeout(this.holdRecheck);
    for (const running of this.running.values()) this.endRoomWaits(running, (waiter) => waiter.reject(this.stopping.signal.reason));
  }

  /** Has this delivery end with `handling`: a deferred message is settled then, else the returned promise settles. */
  private follow(handling: Handling, delivery: Delivery | undefined): Promise<void> {
    if (delivery !== undefined) {
      handling.follow(delivery.defer());
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => handling.follow((outcome, error) => (outcome === 'done' ? resolve() : reject(error))));
  }

  private end(handling: Handling, outcome: 'done' | 'failed', error?: unknown): void {
    const { running } = handling;
    this.leftStarting(handling);
    if (running.byIndex.get(handling.index) === handling) running.byIndex.delete(handling.index);
    handling.finish(outcome, error);
    if (handling.unparked) {
      running.unparked--;
      // Nothing will deliver it again: back among the parked, taken again a little later (the mark
      // stays, so a restart finds it too).
      if (outcome === 'failed' && !this.stopping.signal.aborted) {
        (running.parked ??= new IndexSet()).add(handling.index);
        setTimeout(() => this.unpark(running), UNPARK_RETRY_MS).unref();
        return;
      }
    }
    running.lastEndMs = performance.now();
    if (running.roomWaiters !== null && this.heldHere(running) <= this.config.executorBatchWindow / 2)
      this.endRoomWaits(running, (waiter) => waiter.resolve('room'));
    if (running.parked !== null) this.unpark(running);
    else this.forgetIfIdle(running);
  }

  /** The batch's executions here: in hand (in line, calling, waiting to retry) and parked. */
  private heldHere(running: RunningBatch): number {
    return running.byIndex.size + (running.parked?.size ?? 0);
  }

  /** A wait for room whose timer ran out: a stall if nothing of the batch ended meanwhile, else it waits on from the last end. */
  private checkStall(running: RunningBatch, waiter: RoomWaiter): void {
    const sinceEnd = performance.now() - running.lastEndMs;
    if (sinceEnd < ROOM_STALL_MS) {
      waiter.timer = setTimeout(() => this.checkStall(running, waiter), ROOM_STALL_MS - sinceEnd).unref();
      return;
    }
    const waiters = running.roomWaiters ?? [];
    waiters.splice(waiters.indexOf(waiter), 1);
    if (waiters.length === 0) running.roomWaiters = null;
    waiter.resolve('stalled');
  }

  private endRoomWaits(running: RunningBatch, end: (waiter: RoomWaiter) => void): void {
    const waiters = running.roomWaiters;
    if (waiters === null) return;
    running.roomWaiters = null;
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      end(waiter);
    }
  }

  private runningOf(batchId: string): RunningBatch {
    let running = this.running.get(batchId);
    if (running === undefined)
      this.running.set(
        batchId,
        (running = {
          batchId,
          byIndex: new Map(),
          slot: null,
          parked: null,
          starting: null,
          startWaiters: null,
          unparked: 0,
          pacing: null,
          roomWaiters: null,
          lastEndMs: performance.now(),
        }),
      );
    return running;
  }

  /** The execution made its first call or stopped short of it: those waiting for it (`firstCallsOut`) hear of it. */
  private leftStarting(handling: Handling): void {
    handling.callComing = false;
    const { running } = handling;
    if (running.starting?.delete(handling) !== true) return;
    if (running.starting.size === 0) running.starting = null;
    const waiters = running.startWaiters;
    if (waiters === null) return;
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i] as StartWaiter;
      if (waiter.pending.delete(handling) && waiter.pending.size === 0) {
        waiters.splice(i, 1);
        waiter.resolve();
      }
    }
    if (waiters.length === 0) running.startWaiters = null;
  }

  private forgetIfIdle(running: RunningBatch): void {
    if (running.byIndex.size === 0 && running.parked === null && this.running.get(running.batchId) === running)
      this.running.delete(running.batchId);
  }

  /** Parks one execution of the batch: its index here, and the batch's durable mark before the message is acknowledged. */
  private park(running: RunningBatch, index: number): void {
    this.parked.mark(running.batchId);
    (running.parked ??= new IndexSet()).add(index);
    this.unpark(running);
  }

  /**
   * Takes parked executions back into line, lowest index first, once the batch's handled ones are
   * down to half its window; ends the episode (and the mark) once none is parked or out of it.
   */
  private unpark(running: RunningBatch): void {
    const parked = running.parked;
    if (parked === null || this.stopping.signal.aborted) return;
    const window = this.config.executorBatchWindow;
    if (parked.size === 0) {
      if (running.unparked > 0) return;
      running.parked = null;
      this.parked.unmark(running.batchId);
      return this.forgetIfIdle(running);
    }
    if (running.byIndex.size > window / 2) return;
    for (const index of parked.take(window - running.byIndex.size)) {
      // In hand already (a delivery of it came in after it was parked): that one covers it.
      if (running.byIndex.has(index)) continue;
      const handling = new Handling(this.line, running, index, true);
      running.byIndex.set(index, handling);
      running.unparked++;
      void this.admitUnparked(handling);
    }
  }

  /** As `handle` does for a message: checks the execution, then puts it in line; a check that throws fails it (back among the parked). */
  private async admitUnparked(handling: Handling): Promise<void> {
    let admitted: boolean;
    try {
      admitted = await this.admit(handling);
    } catch (error) {
      return this.end(handling, 'failed', error);
    }
    if (!admitted) return this.end(handling, 'done');
    this.slots.enqueue(handling.slot, this.stopping.signal, handling);
  }

  /**
   * The execution's turn in line: with a permit at once and its batch not held, its first call goes
   * out on the slot it was granted; else (a hold or a 429 came just now) the slot goes back and the
   * run waits as any retry does.
   */
  private granted(handling: Handling, release: ReleaseSlot): void {
    let admitted: Admitted | null = null;
    if (!this.held.isHeld(handling.batchId)) {
      const permit = this.throttle.tryPermit(handling.version.workflowId);
      if (permit !== null && this.throttle.begin(permit)) admitted = { permit, release };
      else permit?.release();
    }
    if (admitted === null) {
      release();
      this.leftStarting(handling);
    } else {
      handling.callComing = true;
      this.pacer.started(handling.batchId, handling.running.pacing);
    }
    this.run(handling, handling.firstAttempt, admitted, () => this.leftStarting(handling)).then(
      () => this.end(handling, 'done'),
      (error: unknown) => {
        this.leftStarting(handling);
        void this.retry(handling, error);
      },
    );
  }

  /**
   * A run that threw (what the transport used to retry: an append or a read failed): checked and
   * put in line again after the one backoff, up to RUN_TRIES; then, or when the executor stops, its
   * deliveries fail and stay unacknowledged.
   */
  private async retry(handling: Handling, error: unknown): Promise<void> {
    if (this.stopping.signal.aborted || handling.tries >= RUN_TRIES) return this.end(handling, 'failed', error);
    try {
      await sleep(backoffDelay(handling.tries, { baseMs: RUN_RETRY_BASE_MS }), undefined, { signal: this.stopping.signal });
      handling.tries++;
      if (!(await this.admit(handling))) return this.end(handling, 'done');
      this.slots.enqueue(handling.slot, this.stopping.signal, handling);
    } catch (next) {
      await this.retry(handling, next);
    }
  }

  /**
   * A hold learnt from a batch state read may have been released before the read was made, and its
   * BatchReleased handled already: the batches held here are read again every HOLD_RECHECK_MS while
   * executions of them wait in line.
   */
  private recheckHoldsSoon(): void {
    if (this.holdRecheck !== null || this.stopping.signal.aborted) return;
    this.holdRecheck = setTimeout(() => {
      void (async () => {
        for (const batchId of this.held.heldIds()) {
          try {
            const state = await this.batches.load(batchId);
            if (!isBatch(state) || state.held === null) this.held.release(batchId);
          } catch {
            // Read again at the next recheck.
          }
        }
      })().finally(() => (this.holdRecheck = null));
    }, HOLD_RECHECK_MS);
    this.holdRecheck.unref();
  }

  /**
   * Checks the execution and fills in what it keeps while it waits in line: its workflow version
   * (shared, cached), its slot request (shared by its batch's executions) and the attempt it starts
   * from; not the batch state nor the item, so a deep queue of waiting executions stays small.
   * False when there is nothing to do for it.
   */
  private async admit(handling: Handling): Promise<boolean> {
    const { batchId, index, running } = handling;
    const batch = await this.batchStates.load(batchId);
    if (!isBatch(batch)) throw new BatchNotFound(batchId);
    if (!stillToCall(batch, index)) return false;
    // After a restart the state is where a hold is first learnt: its BatchHeld was handled before.
    if (batch.held !== null) this.held.hold(batchId);
    // An episode recorded before a restart is lifted by the first answer that is not a 429.
    if (batch.throttledUntil !== null) this.throttledBatches.add(batchId);
    const { workflowId, workflowVersion, priority } = batch.settings;
    running.pacing = pacingOf(batch);
    const version = await this.versionOf(workflowId, workflowVersion);
    if (version === undefined) {
      const error = `workflow ${workflowId} has no version ${workflowVersion}`;
      await this.record({ type: 'RecordExecutionFailed', batchId, index, error, attempts: 0, now: this.clock.now() });
      return false;
    }
    const { maxInFlight, maxPerSecond } = version.limits ?? {};
    let slot = running.slot;
    // The batch may have been reconfigured (its priority) since the request was made: a new one then.
    if (
      slot === null ||
      slot.workflowId !== workflowId ||
      slot.priority !== priority ||
      slot.maxInFlight !== maxInFlight ||
      slot.maxPerSecond !== maxPerSecond
    ) {
      slot = {
        workflowId,
        batchId,
        priority,
        ...(maxInFlight === undefined ? {} : { maxInFlight }),
        ...(maxPerSecond === undefined ? {} : { maxPerSecond }),
      };
      running.slot = slot;
    }
    handling.version = version;
    handling.slot = slot;
    // A redelivery (after a restart) goes on from the attempts already recorded, so maxAttempts holds overall.
    handling.firstAttempt = batch.executions.failedAttemptsOf(index) + 1;
    return true;
  }

  /**
   * Once the execution holds its first slot: reads the batch again (it may have been settled or
   * cancelled while the execution waited, or another delivery of it may have run) and its item.
   * Null when it is no longer to be called.
   */
  private async prepare(execution: Execution): Promise<Omit<TargetPayload, 'attempt'> | null> {
    const batch = await this.batchStates.load(execution.batchId);
    if (!isBatch(batch) || !stillToCall(batch, execution.index)) return null;
    const item = await this.items.get(batch.items, execution.index);
    return this.payloadOf(batch, execution.executionId, item);
  }

  /**
   * `first`: the permit and slot of the first attempt when they came with the execution's turn in
   * line. `calling`: told as each attempt's call goes out.
   */
  private async run(execution: Execution, firstAttempt: number, first: Admitted | null, calling: () => void): Promise<void> {
    const { batchId, index, version } = execution;
    const { workflowId } = version;
    // The failed attempts maxAttempts counts: 429s are not among them. A redelivery counts every
    // attempt recorded before (429s record none, so a restart forgets the calls they took).
    let failures = firstAttempt - 1;
    // The first 429 since the last other answer: continuous throttling is measured from it.
    let throttledSinceMs: number | null = null;
    const maxThrottleMs = version.retry.maxThrottleSeconds * 1000;
    let payload: Omit<TargetPayload, 'attempt'> | null = null;
    for (let attempt = firstAttempt; ; attempt++) {
      const admitted: Admitted | null =
        first ?? (await this.slotFor(execution, throttledSinceMs === null ? null : throttledSinceMs + maxThrottleMs));
      first = null;
      if (admitted === null) {
        await this.record(throttledTooLong(batchId, index, version.retry.maxThrottleSeconds, attempt - 1, this.clock.now()));
        return;
      }
      const { permit, release }: Admitted = admitted;
      let result: CallResult;
      let throttled: Throttled | null = null;
      try {
        // The item is read holding the slot, so the executions waiting in line hold none.
        payload ??= await this.prepare(execution);
        if (payload === null) {
          permit.release();
          return;
        }
        // calledAt: the read side keeps the earliest, so a redelivery's first call changes nothing.
        if (attempt === firstAttempt) this.writer.callStarted(batchId, index, this.clock.now());
        calling();
        const startedAt = performance.now();
        result = await this.client.call(
          {
            url: version.target.url,
            body: JSON.stringify({ ...payload, attempt }),
            idempotencyKey: execution.executionId,
            timeoutMs: version.target.timeoutMs,
          },
          this.stopping.signal,
        );
        const seconds = (performance.now() - startedAt) / 1000;
        this.metrics?.targetCalled(seconds, result.kind);
        // At debug: one line a call is too many at full rate. Ids and the answer's status only,
        // never the inputs sent nor the output received.
        this.logger.debug({
          msg: `Called the target of ${execution.executionId}, attempt ${attempt}: ${answerOf(result)}`,
          batchId,
          executionId: execution.executionId,
          workflowId,
          attempt,
          statusCode: result.kind === 'response' ? result.status : null,
          durationMs: Math.round(seconds * 1000),
        });
        // Told while the permit still counts the call (the limit halves from the calls in flight
        // now) and before the slot goes back: an execution waiting for that slot must find the
        // workflow closed, not call it once more under the old limit.
        if (result.kind === 'response' && result.status === 429) {
          const at = this.clock.now();
          throttled = { until: this.throttle.throttled(permit, result.retryAfter, at, version.retry.backoffMs), at };
        }
      } catch (error) {
        permit.release();
        throw error;
      } finally {
        release();
      }
      if (throttled !== null) {
        const until: Date = throttled.until;
        const now: Date = throttled.at;
        permit.release();
        const since: number = (throttledSinceMs ??= now.getTime());
        if (now.getTime() - since >= maxThrottleMs) {
          await this.record(throttledTooLong(batchId, index, version.retry.maxThrottleSeconds, attempt, now));
          return;
        }
        await this.throttleStarted(batchId, workflowId, until, now);
        continue;
      }
      // An answer other than 429 ends the throttling; a timeout or a refused connection is no answer.
      if (result.kind === 'response') throttledSinceMs = null;
      if (result.kind === 'response' && result.status >= 200 && result.status <= 299) this.throttle.succeeded(workflowId);
      permit.release();
      const lifted = result.kind === 'response' ? this.throttleLifted(batchId) : Promise.resolve();
      if (result.kind === 'response' && result.status >= 200 && result.status <= 299) {
        // Async: the outcome arrives on the callback; the scheduler fails the execution when no
        // callback comes by the deadline (target.callbackTimeoutMs after acceptance), so nothing waits here.
        if (version.target.mode === 'async') {
          const now = this.clock.now();
          const deadline = new Date(now.getTime() + version.target.callbackTimeoutMs);
          await Promise.all([lifted, this.record({ type: 'RecordExecutionAccepted', batchId, index, attempt, deadline, now })]);
        } else
          await Promise.all([
            lifted,
            this.record(
              { type: 'RecordExecutionCompleted', batchId, index, output: outputOf(result.body), attempts: attempt, now: this.clock.now() },
              // Bytes, as the store's append limit counts them (a string's length is UTF-16 units).
              Buffer.byteLength(result.body, 'utf8'),
            ),
          ]);
        return;
      }
      const failure = failureOf(result);
      const details =
        failure.statusCode === undefined ? { error: failure.error } : { error: failure.error, statusCode: failure.statusCode };
      const now = this.clock.now();
      failures++;
      if (!failure.retryable || failures >= version.retry.maxAttempts) {
        this.logger.log({
          msg: `Execution ${execution.executionId} failed after ${attempt} attempt(s): ${failure.error}`,
          batchId,
          executionId: execution.executionId,
          workflowId,
          attempts: attempt,
          statusCode: failure.statusCode ?? null,
        });
        await Promise.all([lifted, this.record({ type: 'RecordExecutionFailed', batchId, index, ...details, attempts: attempt, now })]);
        return;
      }
      const delay = retryDelay(failures, version.retry, failure.retryAfter, Math.random, now);
      const retryAt = new Date(now.getTime() + delay);
      const [, recorded] = await Promise.all([
        lifted,
        this.record({ type: 'RecordAttemptFailed', batchId, index, attempt, ...details, retryAt, now }),
      ]);
      if (!recorded) return;
      await sleep(delay, undefined, { signal: this.stopping.signal });
    }
  }

  /**
   * A throttle permit and a call slot, for a call that may start now; null when the execution's
   * throttling deadline passes first. A hold of the batch is waited out before anything is asked
   * for, and the permit comes before the slot, so calls a held batch or a closed workflow holds back
   * keep no slot. A hold that came, or a permit that went stale (a 429 came in), while the holder
   * waited for the slot gives both back, and they are asked for again.
   */
  private async slotFor(execution: Execution, deadlineMs: number | null): Promise<Admitted | null> {
    const { batchId, version } = execution;
    const stillHeld = async (): Promise<boolean> => {
      const state = await this.batches.load(batchId);
      return isBatch(state) && state.held !== null;
    };
    for (;;) {
      await this.held.untilReleased(batchId, stillHeld, this.stopping.signal);
      const permit = await this.permitWithin(version.workflowId, deadlineMs);
      if (permit === null) return null;
      let release: ReleaseSlot;
      try {
        release = await this.slots.acquire(execution.slot, this.stopping.signal);
      } catch (error) {
        permit.release();
        throw error;
      }
      if (!this.held.isHeld(batchId) && this.throttle.begin(permit)) return { permit, release };
      release();
      permit.release();
    }
  }

  /**
   * A permit of the workflow's throttle. With a deadline (the execution is being throttled), null
   * once it passes first: the execution has been held back for as long as it may be.
   */
  private async permitWithin(workflowId: string, deadlineMs: number | null): Promise<ThrottlePermit | null> {
    if (deadlineMs === null) return this.throttle.permit(workflowId, this.stopping.signal);
    const left = deadlineMs - this.clock.now().getTime();
    if (left <= 0) return null;
    const timeout = AbortSignal.timeout(left);
    try {
      return await this.throttle.permit(workflowId, AbortSignal.any([this.stopping.signal, timeout]));
    } catch (error) {
      if (timeout.aborted && !this.stopping.signal.aborted) return null;
      throw error;
    }
  }

  /** Opens the batch's throttling episode, once: the 429s that follow record nothing. */
  private async throttleStarted(batchId: string, workflowId: string, until: Date, now: Date): Promise<void> {
    if (this.throttledBatches.has(batchId)) return;
    this.throttledBatches.add(batchId);
    await this.record({ type: 'RecordThrottled', batchId, until, workflowId, now });
  }

  /**
   * Ends the batch's open episode, recorded in the same group commit as the outcome that comes
   * with it (and before it: the call is made first, so the writer appends it first).
   */
  private async throttleLifted(batchId: string): Promise<void> {
    if (!this.throttledBatches.delete(batchId)) return;
    await this.record({ type: 'RecordThrottleLifted', batchId, now: this.clock.now() });
  }

  /**
   * Appends through the group commit. False when the execution already has an outcome (another
   * delivery of it settled it first): there is nothing left to do for it.
   */
  private async record(command: OutcomeCommand, bytes = 0): Promise<boolean> {
    try {
      await this.writer.record(command, bytes);
      return true;
    } catch (error) {
      if (error instanceof IllegalExecutionTransition) return false;
      throw error;
    }
  }

  private async versionOf(workflowId: string, versionNumber: number): Promise<WorkflowVersion | undefined> {
    const key = `${workflowId}@${versionNumber}`;
    const cached = this.versions.get(key);
    if (cached !== undefined) return cached;
    const workflow = await this.workflows.load(workflowId);
    const version = workflow === null ? undefined : findVersion(workflow, versionNumber);
    if (version !== undefined) this.versions.set(key, version);
    return version;
  }

  private payloadOf(batch: Batch, executionId: string, item: BatchItem): Omit<TargetPayload, 'attempt'> {
    return {
      executionId,
      batchId: batch.id,
      workflowId: batch.settings.workflowId,
      workflowVersion: batch.settings.workflowVersion,
      inputs: item.inputs,
      profile: item.profile ?? null,
      metadata: { ...batch.settings.metadata, ...item.metadata },
      callbackUrl: `${this.config.publicUrl}/v1/executions/${encodeURIComponent(executionId)}/result`,
      callbackToken: callbackTokenOf(this.config.callbackSecret, executionId),
      ...(item.secrets === undefined ? {} : { secrets: JSON.parse(this.secrets.open(item.secrets)) as Record<string, unknown> }),
    };
  }
}

/**
 * A redelivery of an execution whose outcome is already recorded (a restart before the message was
 * acknowledged) must not call the target again, nor one an async target accepted: its outcome comes on the callback.
 */
const stillToCall = (batch: Batch, index: number): boolean =>
  batch.executions.stateOf(index) === 'triggered' && batch.executions.acceptedAttemptOf(index) === null;

/** A sync target's answer as the execution's output: JSON when it parses, else the text; null when empty. */
const outputOf = (body: string): unknown => {
  if (body === '') return null;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
};

/** The failure of an execution held back by 429s longer than its workflow allows; `attempts`: every call made. */
const throttledTooLong = (batchId: string, index: number, maxThrottleSeconds: number, attempts: number, now: Date): OutcomeCommand => ({
  type: 'RecordExecutionFailed',
  batchId,
  index,
  error: `throttled by the target (HTTP 429) for ${maxThrottleSeconds} s without a successful call`,
  statusCode: 429,
  attempts,
  now,
});

/** A call's result in a few words, for the log. */
const answerOf = (result: CallResult): string => (result.kind === 'response' ? `HTTP ${result.status}` : result.error);

const failureOf = (result: CallResult): AttemptFailure => {
  if (result.kind === 'failure') return { error: result.error, retryable: isRetryable(result) };
  const failure = {
    error: `HTTP ${result.status} ${result.statusText}`.trimEnd(),
    statusCode: result.status,
    retryable: isRetryable(result.status),
  };
  return result.retryAfter === undefined ? failure : { ...failure, retryAfter: result.retryAfter };
};
