import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { type EventStore } from '@flotilla/event-store';
import { CoreModule, EVENT_STORE, HttpErrorFilter, createValidationPipe, loadConfig } from '@flotilla/platform';
import { createBatch, startReceiver, type Receiver } from './notification.fixtures';
import { NotifierModule, WebhooksModule } from './notifier.module';
import { verifySignature } from './signature';
import { EXTEND_WEBHOOK_EVENT_TYPES, WEBHOOK_EVENT_TYPES } from '@flotilla/domain';
import { WEBHOOK_REGISTRY_STREAM } from './webhook-streams';
import { until } from '@flotilla/testing/poll';

const SECRET = 'a-long-enough-secret';

describe('WebhooksController', () => {
  let dir: string;
  let app: INestApplication;
  let base: string;
  let receiver: Receiver;

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, text, json: JSON.parse(text) as Record<string, unknown> };
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-webhooks-api-'));
    // Fails twice, then accepts.
    receiver = await startReceiver((request) => (request <= 2 ? 500 : 200));
    const module = await Test.createTestingModule({
      imports: [CoreModule.forRoot(loadConfig({ DATA_DIR: dir })), WebhooksModule, NotifierModule.forRoot({ baseDelayMs: 10 })],
    }).compile();
    app = module.createNestApplication({ logger: false });
    // As the API process installs them: the DTO pipe, and the filter mapping domain errors by kind.
    app.useGlobalPipes(createValidationPipe());
    app.useGlobalFilters(new HttpErrorFilter());
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });
  afterEach(async () => {
    await app.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers a webhook (201) and shows it without its secret', async () => {
    const created = await call(
      'POST',
      '/v1/webhooks',
      { url: receiver.url, events: ['batch.started', 'execution.failed'], secret: SECRET, workflowId: 'wf-a' },
      { 'X-Actor': 'alice' },
    );
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      id: expect.stringMatching(/^whk_[0-9a-z]{26}$/),
      url: receiver.url,
      events: ['batch.started', 'execution.failed'],
      workflowId: 'wf-a',
      format: 'flotilla',
      createdAt: expect.any(String),
    });
    const read = await call('GET', `/v1/webhooks/${String(created.json['id'])}`);
    expect(read.status).toBe(200);
    expect(read.json).toEqual(created.json);
    expect(created.text + read.text).not.toContain(SECRET);

    const withoutWorkflow = await call('POST', '/v1/webhooks', { url: receiver.url, events: ['batch.completed'], secret: SECRET });
    expect(withoutWorkflow.json['workflowId']).toBeNull();

    const stored = [];
    for await (const event of app.get<EventStore>(EVENT_STORE).readStream(WEBHOOK_REGISTRY_STREAM)) stored.push(event);
    expect(stored[0]).toMatchObject({
      type: 'WebhookRegistered',
      data: { webhookId: created.json['id'], actor: 'alice' },
      metadata: { actor: 'alice' },
    });
    expect(stored[1]).toMatchObject({ data: { actor: 'api' } });
  });

  it('answers 422 naming the field and the offending value when a rule is broken', async () => {
    const unknownType = await call('POST', '/v1/webhooks', {
      url: receiver.url,
      events: ['batch.started', 'batch.exploded'],
      secret: SECRET,
    });
    expect(unknownType.status).toBe(422);
    expect(unknownType.json['details']).toEqual([
      expect.objectContaining({ code: 'unknown_event_type', field: 'events[1]', message: expect.stringContaining('"batch.exploded"') }),
    ]);

    const rules = await call('POST', '/v1/webhooks', { url: 'ftp://example.com/hooks', events: [], secret: 'short' });
    expect(rules.status).toBe(422);
    expect((rules.json['details'] as { field: string }[]).map((problem) => problem.field)).toEqual(['url', 'events', 'secret']);
  });

  it('answers 400 for a body of the wrong shape, unknown fields included', async () => {
    for (const body of [
      { url: receiver.url, events: ['batch.started'] },
      { url: receiver.url, events: 'batch.started', secret: SECRET },
      { url: 42, events: ['batch.started'], secret: SECRET },
      { url: receiver.url, events: ['batch.started'], secret: SECRET, active: true },
    ]) {
      expect((await call('POST', '/v1/webhooks', body)).status).toBe(400);
    }
  });

  it('answers 404 for an unknown webhook and its deliveries', async () => {
    expect((await call('GET', '/v1/webhooks/whk_missing')).status).toBe(404);
    expect((await call('GET', '/v1/webhooks/whk_missing/deliveries')).status).toBe(404);
  });

  it('lists every attempt of a delivery that failed twice then succeeded, newest first, in pages', async () => {
    const created = await call('POST', '/v1/webhooks', { url: receiver.url, events: ['batch.started'], secret: SECRET });
    const id = String(created.json['id']);
    const batchId = await createBatch(app, { workflowId: 'wf', items: [{ inputs: {} }] });

    type Page = { items: Record<string, unknown>[]; nextCursor: string | null };
    const deliveries = async (query = '') => (await call('GET', `/v1/webhooks/${id}/deliveries${query}`)).json as unknown as Page;
    await until(async () => (await deliveries()).items.length === 3);
    const { items, nextCursor } = await deliveries();
    expect(nextCursor).toBeNull();
    expect(items.map((item) => [item['attempt'], item['statusCode'], item['delivered'], item['error']])).toEqual([
      [3, 200, true, null],
      [2, 500, false, 'HTTP 500'],
      [1, 500, false, 'HTTP 500'],
    ]);
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(
        [
          'attempt',
          'batchId',
          'deliveryId',
          'delivered',
          'durationMs',
          'error',
          'eventId',
          'eventType',
          'executionId',
          'nextAttemptAt',
          'occurredAt',
          'statusCode',
        ].sort(),
      );
      expect(item).toMatchObject({
        deliveryId: items[0]!['deliveryId'],
        eventId: receiver.requests[0]!.payload.id,
        eventType: 'batch.started',
        batchId,
        executionId: null,
      });
    }
    expect(items.map((item) => item['nextAttemptAt'] === null)).toEqual([true, false, false]);

    // Three requests for one event: the same id each time (receivers deduplicate by it), each signed.
    expect(receiver.requests).toHaveLength(3);
    for (const request of receiver.requests) {
      expect(request.headers['x-event-id']).toBe(receiver.requests[0]!.payload.id);
      expect(request.body).toBe(receiver.requests[0]!.body);
      expect(verifySignature(SECRET, String(request.headers['x-signature']), request.body, 60, new Date())).toBe(true);
    }

    const first = await deliveries('?limit=2');
    expect(first.items.map((item) => item['attempt'])).toEqual([3, 2]);
    const second = await deliveries(`?limit=2&cursor=${first.nextCursor!}`);
    expect(second).toEqual({ items: [expect.objectContaining({ attempt: 1 })], nextCursor: null });

    expect((await call('GET', `/v1/webhooks/${id}/deliveries?limit=0`)).json).toMatchObject({
      statusCode: 422,
      details: [{ field: 'limit' }],
    });
    expect((await call('GET', `/v1/webhooks/${id}/deliveries?cursor=abc`)).json).toMatchObject({
      statusCode: 400,
      details: [{ field: 'cursor' }],
    });
    expect((await call('GET', `/v1/webhooks/${id}/deliveries?limit=many`)).status).toBe(400);
  });

  it('describes the API in OpenAPI, the secret write-only and absent from responses', () => {
    const document = SwaggerModule.createDocument(app, new DocumentBuilder().build());
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/v1/webhooks', '/v1/webhooks/{id}', '/v1/webhooks/{id}/deliveries']),
    );
    const schemas = document.components?.schemas as Record<
      string,
      { properties: Record<string, Record<string, unknown>>; required?: string[] }
    >;
    expect(schemas['RegisterWebhookRequest']!.properties['events']!['items']).toEqual({
      type: 'string',
      enum: [...WEBHOOK_EVENT_TYPES, ...EXTEND_WEBHOOK_EVENT_TYPES],
    });
    expect(schemas['RegisterWebhookRequest']!.properties['secret']).toMatchObject({ writeOnly: true, minLength: 8 });
    expect(schemas['RegisterWebhookRequest']!.required).toEqual(['url', 'events', 'secret']);
    expect(Object.keys(schemas['WebhookResponse']!.properties)).toEqual(['id', 'url', 'events', 'workflowId', 'format', 'createdAt']);
    expect(Object.keys(schemas['DeliveriesPageResponse']!.properties)).toEqual(['items', 'nextCursor']);
  });
});
