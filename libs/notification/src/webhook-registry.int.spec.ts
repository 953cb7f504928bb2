import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuleViolation } from '@flotilla/domain';
import { SqliteEventStore } from '@flotilla/event-store';
import { SecretBox, SecretUnreadable, isSealedSecret } from '@flotilla/platform';
import { DeliveryLog } from './delivery-log';
import { verifySignature } from './signature';
import { WebhookNotFound, type SealedSecret, type WebhookDeliveryAttempted } from '@flotilla/domain';
import { WEBHOOK_REGISTRY_STREAM, deliveriesStream } from './webhook-streams';
import { WebhookRegistry } from './webhook-registry';

const now = new Date('2026-05-01T00:00:00Z');
const box = new SecretBox(randomBytes(32));
const registration = {
  url: 'https://example.com/hooks',
  events: ['batch.started', 'execution.failed'],
  secret: 's3cret-value',
  actor: 'ops',
  now,
};

describe('WebhookRegistry', () => {
  let dir: string;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-webhooks-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends the registration to the one registry stream; a restarted registry reads every webhook from it', async () => {
    const first = await new WebhookRegistry(store, box).register(registration);
    const second = await new WebhookRegistry(store, box).register({ ...registration, events: ['batch.completed'], workflowId: 'wf-a' });
    expect(first.webhook).toEqual({
      id: expect.stringMatching(/^whk_[0-9a-z]{26}$/),
      url: registration.url,
      events: ['batch.started', 'execution.failed'],
      workflowId: null,
      format: 'flotilla',
      createdAt: now.toISOString(),
      createdBy: 'ops',
    });
    expect(second.position).toBeGreaterThan(first.position);

    const restarted = new WebhookRegistry(store, box);
    expect(await restarted.list()).toEqual([first.webhook, second.webhook]);
    expect(await restarted.get(second.webhook.id)).toMatchObject({ workflowId: 'wf-a', events: ['batch.completed'] });

    const stored = [];
    for await (const event of store.readStream(WEBHOOK_REGISTRY_STREAM)) stored.push(event);
    expect(stored.map((event) => [event.type, event.metadata.actor])).toEqual([
      ['WebhookRegistered', 'ops'],
      ['WebhookRegistered', 'ops'],
    ]);
  });

  it('keeps the secret sealed in the event, to sign with, and returns it from no read', async () => {
    const registry = new WebhookRegistry(store, box);
    const { webhook } = await registry.register(registration);
    for await (const event of store.readStream(WEBHOOK_REGISTRY_STREAM)) {
      const { secret } = event.data as { secret: unknown };
      expect(isSealedSecret(secret)).toBe(true);
      expect(JSON.stringify(event.data)).not.toContain(registration.secret);
      expect(box.open(secret as SealedSecret)).toBe(registration.secret);
    }
    const reads = [webhook, await registry.get(webhook.id), await registry.list(), await new WebhookRegistry(store, box).list()];
    for (const read of reads) expect(JSON.stringify(read)).not.toContain(registration.secret);
    expect(Object.keys(webhook)).not.toContain('secret');

    // A restarted registry signs with the secret read back from the stream.
    const restarted = new WebhookRegistry(store, box);
    await restarted.list();
    const header = restarted.sign(webhook.id, Math.floor(now.getTime() / 1000), '{"a":1}');
    expect(verifySignature(registration.secret, header, '{"a":1}', 60, now)).toBe(true);
    expect(() => restarted.sign('whk_missing', 0, '')).toThrow(WebhookNotFound);
  });

  it('signs with a clear secret recorded before secrets were sealed (older data directories)', async () => {
    await store.appendToStream(WEBHOOK_REGISTRY_STREAM, [
      {
        type: 'WebhookRegistered',
        data: {
          webhookId: 'whk_old',
          url: registration.url,
          events: ['batch.started'],
          secret: 'old-clear-secret',
          occurredAt: now.toISOString(),
          actor: 'ops',
        },
      },
    ]);
    const registry = new WebhookRegistry(store, box);
    await registry.list();
    const header = registry.sign('whk_old', Math.floor(now.getTime() / 1000), '{"a":1}');
    expect(verifySignature('old-clear-secret', header, '{"a":1}', 60, now)).toBe(true);
  });

  it('refuses to sign with a secret sealed under another key, saying which setting to check', async () => {
    const { webhook } = await new WebhookRegistry(store, box).register(registration);
    const elsewhere = new WebhookRegistry(store, new SecretBox(randomBytes(32)));
    await elsewhere.list();
    expect(() => elsewhere.sign(webhook.id, 0, '{}')).toThrow(SecretUnreadable);
    expect(() => elsewhere.sign(webhook.id, 0, '{}')).toThrow(/SECRETS_KEY/);
  });

  it('catches up with registrations made elsewhere, and reads its own writes at once', async () => {
    const api = new WebhookRegistry(store, box);
    const notifier = new WebhookRegistry(store, box);
    expect(await notifier.list()).toEqual([]);
    const { webhook } = await api.register(registration);
    expect((await notifier.list()).map((found) => found.id)).toEqual([webhook.id]);

    const own = await notifier.register(registration);
    expect((await notifier.get(own.webhook.id)).id).toBe(own.webhook.id);
    // Concurrent reads share catch-ups and all see the same webhooks.
    const reads = await Promise.all(Array.from({ length: 10 }, () => notifier.list()));
    for (const read of reads) expect(read.map((found) => found.id)).toEqual([webhook.id, own.webhook.id]);
  });

  it('refuses an invalid registration with a RuleViolation naming the fields, and appends nothing', async () => {
    const registry = new WebhookRegistry(store, box);
    const error = await registry
      .register({ ...registration, url: 'mailto:ops@example.com', events: ['batch.exploded'], secret: 'short' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RuleViolation);
    expect((error as RuleViolation).problems.map((problem) => problem.field)).toEqual(['url', 'events[0]', 'secret']);
    expect(await store.streamRevision(WEBHOOK_REGISTRY_STREAM)).toBeUndefined();
  });

  it('throws WebhookNotFound (kind not_found) for an unknown id', async () => {
    const error = await new WebhookRegistry(store, box).get('whk_missing').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WebhookNotFound);
    expect(error).toMatchObject({ kind: 'not_found', code: 'webhook_not_found' });
  });
});

describe('DeliveryLog', () => {
  let dir: string;
  let store: SqliteEventStore;
  let log: DeliveryLog;

  const attempt = (n: number): WebhookDeliveryAttempted['data'] => ({
    webhookId: 'whk_a',
    deliveryId: 'dlv_1',
    eventId: 'evt_1',
    eventType: 'execution.failed',
    batchId: 'bat_1',
    executionId: 'bat_1.0',
    attempt: n,
    ...(n === 5
      ? { statusCode: 200 }
      : { error: 'connect ECONNREFUSED 127.0.0.1:1', nextAttemptAt: new Date(now.getTime() + n * 1000).toISOString() }),
    durationMs: 3,
    delivered: n === 5,
    occurredAt: new Date(now.getTime() + n).toISOString(),
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-deliveries-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
    log = new DeliveryLog(store);
    for (let n = 1; n <= 5; n++) await log.record(attempt(n));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("records each attempt on the webhook's own stream", async () => {
    expect(await store.streamRevision(deliveriesStream('whk_a'))).toBe(4);
    expect(deliveriesStream('whk_a')).toBe('webhookdeliveries-whk_a');
  });

  it('reads newest first, in pages; absent facts are null', async () => {
    const first = await log.read('whk_a', { limit: 2 });
    expect(first.items.map((item) => item.attempt)).toEqual([5, 4]);
    expect(first.items[0]).toEqual({
      deliveryId: 'dlv_1',
      eventId: 'evt_1',
      eventType: 'execution.failed',
      batchId: 'bat_1',
      executionId: 'bat_1.0',
      attempt: 5,
      statusCode: 200,
      error: null,
      delivered: true,
      durationMs: 3,
      occurredAt: new Date(now.getTime() + 5).toISOString(),
      nextAttemptAt: null,
    });
    expect(first.items[1]).toMatchObject({ statusCode: null, error: 'connect ECONNREFUSED 127.0.0.1:1', delivered: false });

    // An attempt recorded meanwhile lands before the first page, not inside the next one.
    await log.record(attempt(6));
    const second = await log.read('whk_a', { limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((item) => item.attempt)).toEqual([3, 2]);
    const last = await log.read('whk_a', { limit: 2, cursor: second.nextCursor! });
    expect(last).toEqual({ items: [expect.objectContaining({ attempt: 1 })], nextCursor: null });

    expect((await log.read('whk_a', { limit: 6 })).nextCursor).toBeNull();
    expect((await log.read('whk_a')).items).toHaveLength(6);
    expect(await log.read('whk_none')).toEqual({ items: [], nextCursor: null });
  });

  it('refuses a limit out of range or a cursor it did not hand out', async () => {
    for (const page of [{ limit: 0 }, { limit: 201 }, { limit: 1.5 }, { cursor: 'abc' }, { cursor: '-1' }, { cursor: '01' }]) {
      const error = await log.read('whk_a', page).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RuleViolation);
      expect((error as RuleViolation).problems[0]!.field).toBe(Object.keys(page)[0]);
    }
  });
});
