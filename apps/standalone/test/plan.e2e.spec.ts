import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import type { BatchPage } from '@flotilla/projections';
import { PlatformProcess, TargetServer, freePort, tempDir } from '@flotilla/testing';

interface Problem {
  code: string;
  field?: string;
  row?: number;
  message: string;
}

interface Plan {
  total: number;
  validItems: number;
  invalidItems: number;
  errors: Problem[];
  waves: number;
  startAt: string;
  planEndsAt: string | null;
  estimatedDurationSeconds: number;
  estimatedCost: { amount: number; currency: string } | null;
}

/** POST /v1/batches/plan against the real process: exact figures, invalid items counted, nothing created. */
describe('batch plan', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;
  const startAt = '2030-01-01T00:00:00.000Z';

  beforeAll(async () => {
    data = tempDir('flotilla-plan-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    const inputs = [{ name: 'email' }, { name: 'company', required: false }];
    const priced = await app.request('POST', '/v1/workflows', {
      id: 'priced',
      name: 'Priced',
      inputs,
      target: { url: target.url },
      cost: { perExecution: 0.1, currency: 'USD' },
    });
    expect(priced.status).toBe(201);
    expect((priced.body as { cost: unknown }).cost).toEqual({ perExecution: 0.1, currency: 'USD' });
    const free = await app.request('POST', '/v1/workflows', { id: 'free', name: 'Free', inputs, target: { url: target.url } });
    expect(free.status).toBe(201);
    expect((free.body as { cost: unknown }).cost).toBeNull();
  });

  afterAll(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  const eventCount = (): number => {
    const store = new DatabaseSync(join(data.path, 'events.sqlite'), { readOnly: true });
    try {
      return (store.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    } finally {
      store.close();
    }
  };

  /** Plans, checking that the event store holds not one event more afterwards. */
  const planOf = async (body: unknown) => {
    const before = eventCount();
    const plan = await app.request<Plan>('POST', '/v1/batches/plan', body);
    expect(eventCount()).toBe(before);
    return plan;
  };

  const expectNothingCreated = async (): Promise<void> => {
    const list = await app.request<BatchPage>('GET', '/v1/batches');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([]);
    expect(target.calls.length).toBe(0);
  };

  const items = (count: number, invalidAt: readonly number[] = []) =>
    Array.from({ length: count }, (_, i) => ({ inputs: invalidAt.includes(i) ? { company: 'no email' } : { email: `u${i}@x.io` } }));

  it('plans a JSON batch with exact figures and its cost, creating nothing', async () => {
    const body = { name: 'json', workflowId: 'priced', startAt, maxConcurrent: 5, batchIntervalSeconds: 60, items: items(23) };
    const plan = await planOf(body);
    expect(plan.status).toBe(200);
    expect(plan.body).toEqual({
      total: 23,
      validItems: 23,
      invalidItems: 0,
      errors: [],
      waves: 5,
      startAt,
      planEndsAt: '2030-01-01T00:04:00.000Z',
      estimatedDurationSeconds: 240,
      estimatedCost: { amount: 2.3, currency: 'USD' },
    });
    await expectNothingCreated();
  });

  it('counts invalid JSON items and lists their errors as the 422 of POST /v1/batches does', async () => {
    const body = { name: 'json', workflowId: 'priced', startAt, maxConcurrent: 4, batchIntervalSeconds: 30, items: items(10, [2, 7]) };
    const plan = await planOf(body);
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({ total: 10, validItems: 8, invalidItems: 2, waves: 2, estimatedDurationSeconds: 30 });
    expect(plan.body.planEndsAt).toBe('2030-01-01T00:00:30.000Z');
    expect(plan.body.estimatedCost).toEqual({ amount: 0.8, currency: 'USD' });
    const refused = await app.request<{ details: Problem[] }>('POST', '/v1/batches', body);
    expect(refused.status).toBe(422);
    expect(plan.body.errors).toEqual(refused.body.details);
    expect(plan.body.errors.length).toBe(2);
    expect(plan.body.errors.map((problem) => problem.field ?? problem.message).join(' ')).toMatch(/items\[2\].*items\[7\]/);
    await expectNothingCreated();
  });

  const csvForm = (csv: string, config: Record<string, unknown>): FormData => {
    const form = new FormData();
    form.append('config', JSON.stringify(config));
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'rows.csv');
    return form;
  };

  it('plans a CSV upload with its mapping, counting invalid rows, with no cost when the workflow declares none', async () => {
    const rows = ['u0@x.io,A', 'u1@x.io,B', 'u2@x.io,C', ',D', 'u4@x.io,E', 'u5@x.io,F', 'u6@x.io,G'];
    const csv = `mail,org\n${rows.join('\n')}\n`;
    const config = {
      name: 'csv',
      workflowId: 'free',
      startAt,
      maxConcurrent: 3,
      batchIntervalSeconds: 10,
      mapping: { mail: { type: 'input', field: 'email' }, org: { type: 'input', field: 'company' } },
    };
    const plan = await planOf(csvForm(csv, config));
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({
      total: 7,
      validItems: 6,
      invalidItems: 1,
      waves: 2,
      startAt,
      planEndsAt: '2030-01-01T00:00:10.000Z',
      estimatedDurationSeconds: 10,
      estimatedCost: null,
    });
    const refused = await app.request<{ details: Problem[] }>('POST', '/v1/batches', csvForm(csv, config));
    expect(refused.status).toBe(422);
    expect(plan.body.errors).toEqual(refused.body.details);
    expect(plan.body.errors.map((problem) => problem.row)).toEqual([4]);
    await expectNothingCreated();
  });

  it('plans a 1,000,000-row CSV without creating anything', async () => {
    const csv = `email\n${Array.from({ length: 1_000_000 }, (_, i) => `u${i}@x.io`).join('\n')}\n`;
    const config = { name: 'big', workflowId: 'priced', startAt, maxConcurrent: 1000, batchIntervalSeconds: 60 };
    const plan = await planOf(csvForm(csv, config));
    expect(plan.status).toBe(200);
    expect(plan.body).toEqual({
      total: 1_000_000,
      validItems: 1_000_000,
      invalidItems: 0,
      errors: [],
      waves: 1000,
      startAt,
      planEndsAt: new Date(Date.parse(startAt) + 999 * 60_000).toISOString(),
      estimatedDurationSeconds: 999 * 60,
      estimatedCost: { amount: 100_000, currency: 'USD' },
    });
    await expectNothingCreated();
  }, 120_000);

  it('answers a plan with no valid item: no waves, no end, a zero cost', async () => {
    const body = { name: 'none', workflowId: 'priced', startAt, maxConcurrent: 5, batchIntervalSeconds: 60, items: items(2, [0, 1]) };
    const plan = await planOf(body);
    expect(plan.body).toMatchObject({ total: 2, validItems: 0, invalidItems: 2, waves: 0, planEndsAt: null, estimatedDurationSeconds: 0 });
    expect(plan.body.estimatedCost).toEqual({ amount: 0, currency: 'USD' });
  });

  it('refuses bad settings (422) and a bad body (400) the way POST /v1/batches does', async () => {
    const bad = await app.request<{ details: Problem[] }>('POST', '/v1/batches/plan', {
      name: 'x',
      workflowId: 'priced',
      maxConcurrent: 0,
      batchIntervalSeconds: 0,
      items: items(1),
    });
    expect(bad.status).toBe(422);
    expect(bad.body.details.map((problem) => problem.field)).toContain('maxConcurrent');
    expect((await app.request('POST', '/v1/batches/plan', { name: 'x', items: 'no' })).status).toBe(400);
    expect(
      (
        await app.request('POST', '/v1/batches/plan', {
          ...{ name: 'x', maxConcurrent: 1, batchIntervalSeconds: 0 },
          workflowId: 'ghost',
          items: items(1),
        })
      ).status,
    ).toBe(404);
    await expectNothingCreated();
  });

  it('checks a declared cost: 422 naming the field, 400 for a non-number', async () => {
    const base = { name: 'Bad cost', inputs: [{ name: 'email' }], target: { url: target.url } };
    const rule = await app.request<{ details: Problem[] }>('POST', '/v1/workflows', {
      ...base,
      id: 'bad-cost',
      cost: { perExecution: -0.5, currency: 'usd' },
    });
    expect(rule.status).toBe(422);
    expect(rule.body.details.map((problem) => problem.field)).toEqual(['cost.perExecution', 'cost.currency']);
    const shape = await app.request('POST', '/v1/workflows', { ...base, id: 'bad-cost', cost: { perExecution: 'free', currency: 'USD' } });
    expect(shape.status).toBe(400);
  });
});
