import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateDb } from '@flotilla/state';
import { DeliveryQueue, type NewDelivery } from './delivery-queue';

const delivery = (webhookId: string, eventId: string, batchId = 'bat_1'): NewDelivery => ({
  webhookId,
  eventId,
  deliveryId: `dlv_${webhookId}_${eventId}`,
  eventType: 'execution.completed',
  batchId,
  executionId: `${batchId}.0`,
  body: JSON.stringify({ id: eventId }),
});

const DAY = 24 * 3600 * 1000;

describe('DeliveryQueue', () => {
  let dir: string;
  let path: string;
  let db: StateDb;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-queue-'));
    path = join(dir, 'state.sqlite');
    db = new StateDb(path);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enqueues each (webhook, event) once, even after it was sent and removed', () => {
    const queue = new DeliveryQueue(db);
    expect(queue.enqueue([delivery('whk_a', 'e1'), delivery('whk_b', 'e1')], 1000)).toHaveLength(2);
    expect(queue.enqueue([delivery('whk_a', 'e1'), delivery('whk_a', 'e2')], 2000)).toEqual([delivery('whk_a', 'e2')]);
    expect(queue.size()).toBe(3);
    expect(queue.size('whk_a')).toBe(2);

    queue.remove(queue.head('whk_a', 'bat_1')!.seq);
    expect(queue.enqueue([delivery('whk_a', 'e1')], 3000)).toEqual([]);
    expect(queue.head('whk_a', 'bat_1')).toMatchObject({ eventId: 'e2', attempts: 0, dueAt: 2000 });
  });

  it('keeps lanes per webhook and batch in enqueue order, with the head due time and attempts, across a reopen', () => {
    const queue = new DeliveryQueue(db);
    queue.enqueue([delivery('whk_a', 'e1', 'bat_1')], 1000);
    queue.enqueue([delivery('whk_a', 'e2', 'bat_2'), delivery('whk_b', 'e2', 'bat_2')], 2000);
    queue.enqueue([delivery('whk_a', 'e3', 'bat_1')], 3000);
    queue.retryAt(queue.head('whk_a', 'bat_1')!.seq, 1, 5000);
    db.close();

    db = new StateDb(path);
    const reopened = new DeliveryQueue(db);
    expect(reopened.lanes()).toEqual([
      { webhookId: 'whk_a', batchId: 'bat_1', dueAt: 5000 },
      { webhookId: 'whk_a', batchId: 'bat_2', dueAt: 2000 },
      { webhookId: 'whk_b', batchId: 'bat_2', dueAt: 2000 },
    ]);
    expect(reopened.head('whk_a', 'bat_1')).toEqual({
      ...delivery('whk_a', 'e1', 'bat_1'),
      seq: expect.any(Number),
      attempts: 1,
      dueAt: 5000,
    });
    reopened.remove(reopened.head('whk_a', 'bat_1')!.seq);
    expect(reopened.head('whk_a', 'bat_1')).toMatchObject({ eventId: 'e3', dueAt: 3000 });
  });

  it('forgets keys a week older than the latest enqueue, not older than now', () => {
    const queue = new DeliveryQueue(db);
    queue.enqueue([delivery('whk_a', 'old')], 0);
    queue.enqueue([delivery('whk_a', 'recent')], 6 * DAY);
    queue.enqueue([delivery('whk_a', 'latest')], 8 * DAY);
    queue.prune();
    expect(queue.enqueue([delivery('whk_a', 'old'), delivery('whk_a', 'recent'), delivery('whk_a', 'latest')], 9 * DAY)).toEqual([
      delivery('whk_a', 'old'),
    ]);
  });
});
