import type { BatchCommandHandler } from '@flotilla/application';
import type {
  RecordAttemptFailed,
  RecordCallsStarted,
  RecordExecutionAccepted,
  RecordExecutionCompleted,
  RecordExecutionFailed,
  RecordThrottleLifted,
  RecordThrottled,
} from '@flotilla/domain';

/** What the executor records about a triggered execution, and about its batch's throttling by the target. */
export type OutcomeCommand =
  | RecordCallsStarted
  | RecordExecutionAccepted
  | RecordAttemptFailed
  | RecordExecutionCompleted
  | RecordExecutionFailed
  | RecordThrottled
  | RecordThrottleLifted;

export interface OutcomeWriterOptions {
  /** How long the first command of a group waits for company. Default 5 ms. */
  readonly maxDelayMs?: number;
  /** Most commands in one append. Default 200. */
  readonly maxCommands?: number;
  /** Most (approximate) payload bytes in one append, below EventStoreDB's 1 MiB append limit. Default 512 KiB. */
  readonly maxBytes?: number;
}

interface Waiting {
  readonly command: OutcomeCommand;
  /** A RecordCallsStarted still waiting: the indexes of its command, which later starts join. */
  readonly started?: number[];
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** The commands waiting for one batch; at most one append of theirs is in flight. */
interface BatchQueue {
  readonly batchId: string;
  waiting: Waiting[];
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  flushing: boolean;
}

/**
 * Group commit for execution outcomes. Appending each outcome alone would cost one durable write
 * (an fsync) per execution and cap the executor far below its target rate; instead the commands of
 * a batch are collected and appended together with `BatchCommandHandler.handleAll`, one append per
 * group. While one group's append is in flight the next group fills, and it is appended as soon as
 * the first returns, so groups grow with the load by themselves.
 *
 * Each caller's promise settles when its own command is durably appended (or refused): the
 * transport commits a message when its handler returns, so nothing may be acknowledged earlier.
 */
export class OutcomeWriter {
  private readonly queues = new Map<string, BatchQueue>();
  private readonly maxDelayMs: number;
  private readonly maxCommands: number;
  private readonly maxBytes: number;

  constructor(
    private readonly batches: BatchCommandHandler,
    options: OutcomeWriterOptions = {},
  ) {
    this.maxDelayMs = options.maxDelayMs ?? 5;
    this.maxCommands = options.maxCommands ?? 200;
    this.maxBytes = options.maxBytes ?? 512 * 1024;
  }

  /**
   * Resolves once `command` is appended. Rejects with the DomainError that refused it (for example
   * an IllegalExecutionTransition when the execution already has an outcome), or with the store's
   * error when the append failed. `bytes` is the size in UTF-8 bytes (Buffer.byteLength, not a string's
   * length) of what the command carries (the output).
   */
  record(command: OutcomeCommand, bytes = 0): Promise<void> {
    return new Promise<void>((resolve, reject) => this.enqueue(this.queueOf(command.batchId), { command, bytes, resolve, reject }));
  }

  /**
   * Notes that the first call of an execution started. Does not wait: the call goes on at once. The
   * starts of a batch join one RecordCallsStarted while it waits, and it is appended in the batch's
   * order, so it lands before the outcome of any of its executions. A failure only loses calledAt.
   */
  callStarted(batchId: string, index: number, at: Date): void {
    const queue = this.queueOf(batchId);
    const last = queue.waiting[queue.waiting.length - 1];
    if (last?.started !== undefined) {
      last.started.push(index);
      return;
    }
    const started = [index];
    const command: RecordCallsStarted = { type: 'RecordCallsStarted', batchId, indexes: started, at, now: at };
    this.enqueue(queue, { command, bytes: 0, started, resolve: noop, reject: noop });
  }

  private enqueue(queue: BatchQueue, waiting: Waiting): void {
    queue.waiting.push(waiting);
    queue.bytes += waiting.bytes;
    if (queue.flushing) return; // the append in flight takes this one up when it returns
    if (queue.waiting.length >= this.maxCommands || queue.bytes >= this.maxBytes) void this.flush(queue);
    else queue.timer ??= setTimeout(() => void this.flush(queue), this.maxDelayMs);
  }

  private queueOf(batchId: string): BatchQueue {
    let queue = this.queues.get(batchId);
    if (queue === undefined) {
      queue = { batchId, waiting: [], bytes: 0, timer: undefined, flushing: false };
      this.queues.set(batchId, queue);
    }
    return queue;
  }

  private async flush(queue: BatchQueue): Promise<void> {
    clearTimeout(queue.timer);
    queue.timer = undefined;
    queue.flushing = true;
    const group = this.takeGroup(queue);
    try {
      const result = await this.batches.handleAll(
        queue.batchId,
        group.map((waiting) => waiting.command),
        { actor: 'executor' },
      );
      group.forEach((waiting, i) => {
        const error = result.errors[i];
        if (error) waiting.reject(error);
        else waiting.resolve();
      });
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
    }
    queue.flushing = false;
    if (queue.waiting.length > 0) void this.flush(queue);
    else this.queues.delete(queue.batchId);
  }

  /** The oldest waiting commands that fit in one append (always at least one). */
  private takeGroup(queue: BatchQueue): Waiting[] {
    let count = 0;
    let bytes = 0;
    for (const waiting of queue.waiting) {
      if (count > 0 && (count >= this.maxCommands || bytes + waiting.bytes > this.maxBytes)) break;
      count++;
      bytes += waiting.bytes;
    }
    queue.bytes -= bytes;
    return queue.waiting.splice(0, count);
  }
}

const noop = (): void => undefined;
