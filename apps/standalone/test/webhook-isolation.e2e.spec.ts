import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, startWebhookReceiver, tempDir } from '@flotilla/testing';

/**
 * Webhook receivers are isolated from one another: one that hangs delays only its own deliveries,
 * and deliveries queued when the process dies are sent after it restarts. The product runs with its
 * default delivery policy (10 s timeout, 5 attempts, 1 s backoff doubling).
 */

interface Attempt {
  eventId: string;
  executionId: string | null;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  delivered: boolean;
  nextAttemptAt: string | null;
}

/** Accepts connections and reads the requests, but never answers one; counts them and keeps their event ids. */
const startHangingReceiver = async (): Promise<{ url: string; eventIds: string[]; stop: () => Promise<void> }> => {
  const eventIds: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    // fetch sends one request per connection here: an unanswered one is never reused.
    let head = '';
    let counted = false;
    socket.on('data', (chunk: Buffer) => {
      if (counted) return;
      head += chunk.toString('latin1');
      const match = /\r\nx-event-id: *([^\r\n]+)\r\n/i.exec(head);
      if (match === null) return;
      counted = true;
      eventIds.push(match[1]!);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    eventIds,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => server.close(done));
    },
  };
};

describe('webhook receivers do not wait on one another', () => {
  let data: ReturnType<typeof tempDir>;
  let target: TargetServer;
  let app: PlatformProcess;

  beforeEach(async () => {
    data = tempDir('flotilla-webhooks-e2e-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    expect(
      (await app.request('POST', '/v1/workflows', { id: 'w', name: 'w', inputs: [{ name: 'n' }], target: { url: target.url } })).status,
    ).toBe(201);
  });

  afterEach(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  const register = async (url: string): Promise<string> => {
    const response = await app.request<{ id: string }>('POST', '/v1/webhooks', {
      url,
      events: ['execution.completed'],
      secret: 'receiver-secret',
    });
    expect(response.status).toBe(201);
    return response.body.id;
  };
  const createBatch = async (n: number): Promise<string> => {
    const items = Array.from({ length: n }, (_, i) => ({ inputs: { n: String(i) } }));
    const response = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'hooks',
      workflowId: 'w',
      maxConcurrent: n,
      batchIntervalSeconds: 0,
      items,
    });
    expect(response.status).toBe(201);
    return response.body.id;
  };
  const attemptsOf = async (webhookId: string): Promise<Attempt[]> =>
    (await app.request<{ items: Attempt[] }>('GET', `/v1/webhooks/${webhookId}/deliveries?limit=200`)).body.items;
  /** The batch's executions in the order their ExecutionCompleted events were appended: the order receivers must see. */
  const completionOrder = async (batchId: string, n: number): Promise<string[]> => {
    const history = await eventually(
      () => app.request<{ items: HistoryEntry[] }>('GET', `/v1/batches/${batchId}/history`).then((response) => response.body.items),
      (items) => items.filter((entry) => entry.type === 'ExecutionCompleted').length === n,
      15_000,
      `${n} completions in the history`,
    );
    return history
      .filter((entry) => entry.type === 'ExecutionCompleted')
      .map((entry) => (entry.data as { executionId: string }).executionId);
  };

  it('a hanging receiver does not delay a healthy one: all 20 events arrive within seconds, in order, while the hanging one is retried', async () => {
    const hanging = await startHangingReceiver();
    const healthy = await startWebhookReceiver();
    try {
      const hangingId = await register(hanging.url);
      await register(healthy.url);

      const created = Date.now();
      const batchId = await createBatch(20);
      const received = await eventually(
        async () => healthy.deliveries,
        (all) => all.length >= 20,
        5000,
        'the healthy receiver to get 20 events',
      );
      const tookMs = Date.now() - created;
      expect(received).toHaveLength(20);
      // The hanging receiver's first attempt has not even timed out yet (10 s): it is still holding its own first event.
      expect(tookMs).toBeLessThan(5000);
      expect(hanging.eventIds).toHaveLength(1);

      const order = await completionOrder(batchId, 20);
      expect(new Set(order).size).toBe(20);
      expect(received.map((delivery) => delivery.body.executionId)).toEqual(order);
      expect(received.every((delivery) => delivery.body.type === 'execution.completed' && delivery.body.batchId === batchId)).toBe(true);

      // Its attempts are recorded on its own delivery log, each announcing the retry; all for the batch's first event, which holds back the rest.
      const attempts = await eventually(
        () => attemptsOf(hangingId),
        (items) => items.length >= 1,
        15_000,
        "an attempt on the hanging receiver's log",
      );
      expect(attempts[attempts.length - 1]).toMatchObject({
        attempt: 1,
        executionId: order[0],
        statusCode: null,
        error: 'timed out after 10000 ms',
        delivered: false,
        nextAttemptAt: expect.any(String),
      });
      expect(new Set(hanging.eventIds)).toEqual(new Set([received[0]!.body.id]));
      expect(healthy.deliveries).toHaveLength(20);
    } finally {
      await hanging.stop();
      await healthy.stop();
    }
  });

  it('deliveries queued when the process is killed (-9) are sent after a restart on the same data directory, none lost', async () => {
    const receiver = await startWebhookReceiver();
    try {
      // Answers 500 until told otherwise: the deliveries pile up in the queue behind the first one's retries.
      receiver.fail.count = Number.MAX_SAFE_INTEGER;
      const webhookId = await register(receiver.url);
      const batchId = await createBatch(10);
      await eventually(
        () => app.request<BatchView>('GET', `/v1/batches/${batchId}`).then((r) => r.body),
        (view) => view.status === 'completed',
        15_000,
        'the batch',
      );

      const state = new DatabaseSync(join(data.path, 'standalone-state.sqlite'), { readOnly: true });
      try {
        const queued = () =>
          (state.prepare('SELECT COUNT(*) AS n FROM webhook_delivery_queue WHERE webhook_id = ?').get(webhookId) as { n: number }).n;
        await eventually(
          async () => queued(),
          (n) => n === 10,
          10_000,
          'the 10 deliveries queued',
        );
      } finally {
        state.close();
      }
      const before = await eventually(
        () => attemptsOf(webhookId),
        (items) => items.length >= 1,
        5000,
        'a failed attempt',
      );
      expect(before.every((attempt) => attempt.statusCode === 500 && !attempt.delivered && attempt.nextAttemptAt !== null)).toBe(true);
      expect(receiver.deliveries).toHaveLength(0);

      await app.kill();
      receiver.fail.count = 0;
      app = new PlatformProcess(app.port, data.path);
      await app.start();

      const received = await eventually(
        async () => receiver.deliveries,
        (all) => all.length >= 10,
        20_000,
        'the 10 deliveries after the restart',
      );
      const order = await completionOrder(batchId, 10);
      expect(received.map((delivery) => delivery.body.executionId)).toEqual(order);
      const attempts = await eventually(
        () => attemptsOf(webhookId),
        (items) => items.filter((attempt) => attempt.delivered).length === 10,
        5000,
        '10 delivered attempts',
      );
      const delivered = attempts.filter((attempt) => attempt.delivered);
      expect(new Set(delivered.map((attempt) => attempt.executionId))).toEqual(new Set(order));
      // The first delivery's failures before the kill are on the log, and it went on counting after the restart.
      const first = attempts.filter((attempt) => attempt.executionId === order[0]).reverse();
      expect(first.map((attempt) => attempt.delivered)).toEqual([...first.slice(0, -1).map(() => false), true]);
      expect(first.map((attempt) => attempt.attempt)).toEqual(first.map((_, i) => i + 1));
      expect(first.length).toBeGreaterThanOrEqual(2);
    } finally {
      await receiver.stop();
    }
  });
});
