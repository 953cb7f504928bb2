import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type INestApplicationContext } from '@nestjs/common';
import { BatchCommandHandler, ItemsWriter, newId } from '@flotilla/application';
import { type BatchItem } from '@flotilla/domain';
import { type EventStore } from '@flotilla/event-store';
import { EVENT_STORE } from '@flotilla/platform';
import { type WebhookPayload } from './notifier';

/** Test helpers: real HTTP receivers on 127.0.0.1, and batches written the way the services write them. */

export interface ReceivedRequest {
  readonly headers: IncomingHttpHeaders;
  /** The raw body, as signed. */
  readonly body: string;
  readonly payload: WebhookPayload;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** `answer(n)` gives the status for the n-th request (1-based), or `hang` to never answer it. */
export const startReceiver = async (answer: (request: number) => number | 'hang' = () => 200): Promise<Receiver> => {
  const requests: ReceivedRequest[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ headers: request.headers, body, payload: JSON.parse(body) as WebhookPayload });
      const status = answer(requests.length);
      if (status === 'hang') hanging.push(response);
      else response.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** A URL nothing listens on: a port that was just free. */
export const refusingUrl = async (): Promise<string> => {
  const receiver = await startReceiver();
  await receiver.close();
  return receiver.url;
};

/** Creates a running batch (its start time is now): items on their chunk stream, then CreateBatch. */
export const createBatch = async (
  app: INestApplicationContext,
  options: { workflowId: string; items: readonly BatchItem[]; metadata?: Record<string, string>; maxConcurrent?: number },
): Promise<string> => {
  const batchId = newId('bat');
  const writer = new ItemsWriter(app.get<EventStore>(EVENT_STORE), batchId);
  for (const item of options.items) await writer.add(item);
  const items = await writer.finish();
  const now = new Date();
  await app.get(BatchCommandHandler).handle(batchId, {
    type: 'CreateBatch',
    batchId,
    settings: {
      name: 'webhook test',
      workflowId: options.workflowId,
      workflowVersion: 1,
      startAt: now.toISOString(),
      maxConcurrent: options.maxConcurrent ?? 10,
      batchIntervalSeconds: 60,
      priority: 50,
      metadata: options.metadata ?? {},
      catchUp: 'paced',
    },
    total: writer.total,
    items,
    actor: 'tester',
    now,
  });
  return batchId;
};
