import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchCommandHandler, ItemsReader, ItemsWriter, WorkflowRepository, batchStream } from '@flotilla/application';
import {
  batchEvents,
  type BatchItem,
  type CatchUp,
  type ExecutionTriggered,
  type RetryPolicy,
  type WorkflowLimits,
  type WorkflowTarget,
} from '@flotilla/domain';
import { SqliteEventStore, type EventStore, type StoredEvent } from '@flotilla/event-store';
import { readMessage, toMessage, type TypedMessage } from '@flotilla/messaging';
import type { TargetPayload } from './execution-dispatcher';

export interface ReceivedCall {
  /** Date.now() when the request arrived. */
  readonly at: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: TargetPayload;
}

export interface Reply {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Answer this much later (for timeouts). */
  readonly delayMs?: number;
}

/** Requests a target has open (arrived, not yet answered or dropped), now and at most so far. */
export interface OpenCalls {
  now: number;
  max: number;
}

/** A workflow target on loopback whose answers the test scripts: `reply` gets each call and its 0-based number. */
export class TargetServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly calls: ReceivedCall[],
    private readonly timers: Set<NodeJS.Timeout>,
    readonly open: OpenCalls,
  ) {}

  static async start(reply: (call: ReceivedCall, n: number) => Reply): Promise<TargetServer> {
    const calls: ReceivedCall[] = [];
    const timers = new Set<NodeJS.Timeout>();
    const open: OpenCalls = { now: 0, max: 0 };
    const server = createServer((req, res) => {
      open.max = Math.max(open.max, ++open.now);
      res.once('close', () => void open.now--);
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const call: ReceivedCall = {
          at: Date.now(),
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString()) as TargetPayload,
        };
        const answer = reply(call, calls.push(call) - 1);
        const send = (): void => void res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
        if (answer.delayMs === undefined) return send();
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, answer.delayMs);
        timers.add(timer);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TargetServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`, calls, timers, open);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A URL on loopback where nothing listens. */
export const refusingUrl = async (): Promise<string> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/run`;
};

export interface BatchSetup {
  readonly batchId: string;
  readonly target: Partial<WorkflowTarget> & Pick<WorkflowTarget, 'url'>;
  readonly retry?: Partial<RetryPolicy>;
  readonly limits?: WorkflowLimits;
  readonly items?: readonly BatchItem[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly profilePool?: readonly string[];
  /** The version the batch pins; default 1, the only one registered. */
  readonly workflowVersion?: number;
  /** Waves; default every execution at once (one wave of all, interval 0). */
  readonly waves?: { readonly maxConcurrent: number; readonly batchIntervalSeconds: number };
  /** Default `paced`. */
  readonly catchUp?: CatchUp;
}

/**
 * A real store in a temporary directory with the application's repositories over it: register a
 * workflow and create a running batch in one call, trigger its executions, read its events back.
 */
export class ExecutionWorld {
  readonly batches: BatchCommandHandler;
  readonly workflows: WorkflowRepository;
  readonly items: ItemsReader;

  private constructor(
    /** The temporary directory this world made, null over someone else's store. */
    private readonly dir: string | null,
    readonly store: EventStore,
  ) {
    this.batches = new BatchCommandHandler(store);
    this.workflows = new WorkflowRepository(store);
    this.items = new ItemsReader(store);
  }

  static open(openStore: (path: string) => EventStore = (path) => new SqliteEventStore(path)): ExecutionWorld {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-execution-'));
    return new ExecutionWorld(dir, openStore(join(dir, 'events.sqlite')));
  }

  /** Over a store someone else opened and will close (a Nest app's): do not close this world. */
  static over(store: EventStore): ExecutionWorld {
    return new ExecutionWorld(null, store);
  }

  /** The store's directory, where a test may put other files. */
  get directory(): string {
    if (this.dir === null) throw new Error('This world has no directory of its own');
    return this.dir;
  }

  async close(): Promise<void> {
    if (this.dir === null) throw new Error('This world is over a store someone else closes');
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Registers the workflow `wf-<batchId>` and creates a batch over `items` that starts now, every execution due at once unless `waves` say otherwise. */
  async createBatch(setup: BatchSetup): Promise<void> {
    const now = new Date();
    const workflowId = `wf-${setup.batchId}`;
    await this.workflows.add({
      type: 'AddWorkflowVersion',
      workflowId,
      isNew: true,
      definition: {
        name: 'test workflow',
        inputs: [{ name: 'n', required: true }],
        target: { timeoutMs: 5000, mode: 'sync', callbackTimeoutMs: 60_000, ...setup.target },
        retry: { maxAttempts: 3, backoffMs: 10, maxThrottleSeconds: 3600, ...setup.retry },
        ...(setup.limits === undefined ? {} : { limits: setup.limits }),
      },
      actor: 'test',
      now,
    });
    const writer = new ItemsWriter(this.store, setup.batchId);
    const items = setup.items ?? [{ inputs: { n: '0' } }];
    for (const item of items) await writer.add(item);
    await this.batches.handle(setup.batchId, {
      type: 'CreateBatch',
      batchId: setup.batchId,
      settings: {
        name: 'test batch',
        workflowId,
        workflowVersion: setup.workflowVersion ?? 1,
        startAt: now.toISOString(),
        maxConcurrent: setup.waves?.maxConcurrent ?? Math.max(1, items.length),
        batchIntervalSeconds: setup.waves?.batchIntervalSeconds ?? 0,
        priority: 50,
        metadata: setup.metadata ?? {},
        catchUp: setup.catchUp ?? 'paced',
        ...(setup.profilePool === undefined ? {} : { profilePool: setup.profilePool }),
      },
      total: items.length,
      items: await writer.finish(),
      actor: 'test',
      now,
    });
  }

  /**
   * Triggers every due execution and returns their ExecutionTriggered messages, as the transport
   * would deliver them. With `asOf` ahead of now, the waves due by then are triggered as planned
   * (no catch-up), as if their triggers had been decided on time and delivered only now.
   */
  async trigger(batchId: string, asOf?: Date): Promise<TypedMessage<ExecutionTriggered>[]> {
    const now = asOf ?? new Date();
    await this.batches.handle(batchId, { type: 'TriggerDueExecutions', batchId, now, limit: 10_000, continuing: asOf !== undefined });
    const triggered = batchEvents.subset('ExecutionTriggered');
    return (await this.stored(batchId)).flatMap((event) => readMessage(triggered, toMessage(event)) ?? []);
  }

  /** The batch's events after its creation, as type and data. */
  async events(batchId: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
    return (await this.stored(batchId))
      .filter((event) => event.type !== 'BatchCreated' && event.type !== 'BatchStarted')
      .map((event) => ({ type: event.type, data: event.data as Record<string, unknown> }));
  }

  async stored(batchId: string): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    for await (const event of this.store.readStream(batchStream(batchId))) events.push(event);
    return events;
  }
}
