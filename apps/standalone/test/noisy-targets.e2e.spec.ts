import type { BatchView } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, tempDir, type TargetAnswer } from '@flotilla/testing';

/**
 * A workflow whose target hangs holds at most its share of the executor's call slots: other
 * workflows' batches still run at their own pace. Small numbers with the ratio of the report that
 * found it (350 hanging calls on 256 slots): 8 slots, 12 hanging calls.
 */
describe('a hanging target cannot stall other workflows', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  const targets: TargetServer[] = [];

  const startTarget = async (respond: TargetServer['respond']): Promise<TargetServer> => {
    const target = new TargetServer();
    target.respond = respond;
    await target.start();
    targets.push(target);
    return target;
  };
  const hangs = (): Promise<TargetAnswer> => new Promise<TargetAnswer>(() => undefined);

  beforeEach(async () => {
    data = tempDir('flotilla-noisy-');
    app = new PlatformProcess(await freePort(), data.path, { EXECUTOR_CONCURRENCY: '8' });
    await app.start();
  });

  afterEach(async () => {
    await app.kill();
    await Promise.all(targets.splice(0).map((target) => target.stop()));
    data.remove();
  });

  const register = async (id: string, url: string, extra: Record<string, unknown> = {}) => {
    const response = await app.request('POST', '/v1/workflows', {
      id,
      name: id,
      inputs: [{ name: 'n' }],
      target: { url, timeoutMs: 30_000 },
      retry: { maxAttempts: 1, backoffMs: 0 },
      ...extra,
    });
    expect(response.status).toBe(201);
    return response.body as { limits: Record<string, number> };
  };
  const submit = async (workflowId: string, total: number): Promise<string> => {
    const items = Array.from({ length: total }, (_, n) => ({ inputs: { n: String(n) } }));
    const response = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: workflowId,
      workflowId,
      maxConcurrent: total,
      batchIntervalSeconds: 0,
      items,
    });
    expect(response.status).toBe(201);
    return response.body.id;
  };
  const progress = async (batchId: string) => (await app.request<BatchView>('GET', `/v1/batches/${batchId}`)).body.progress;

  it('12 hanging calls on workflow A hold 4 of 8 slots (the default half); a 20-item batch on B submitted after settles within seconds', async () => {
    const hanging = await startTarget(hangs);
    const alsoHanging = await startTarget(hangs);
    const healthy = await startTarget(() => ({ status: 200, body: { ok: true } }));
    expect((await register('hangs', hanging.url)).limits).toEqual({});
    // A declared limit below the default holds too.
    expect((await register('hangs-one', alsoHanging.url, { limits: { maxInFlight: 1 } })).limits).toEqual({ maxInFlight: 1 });
    await register('healthy', healthy.url);

    const stuck = await submit('hangs', 12);
    const stuckToo = await submit('hangs-one', 5);
    await eventually(
      async () => hanging.open.now + alsoHanging.open.now,
      (open) => open === 5,
      10_000,
      'the hanging calls to fill their share',
    );

    const submittedAt = Date.now();
    const fine = await submit('healthy', 20);
    await eventually(
      () => progress(fine),
      (counts) => counts.completed === 20,
      10_000,
      'the healthy batch to settle',
    );
    const took = Date.now() - submittedAt;

    expect(took).toBeLessThan(5000);
    expect(healthy.calls).toHaveLength(20);
    // A is still hanging, and never had more calls open than its share.
    expect(hanging.open).toEqual({ now: 4, max: 4 });
    expect(alsoHanging.open).toEqual({ now: 1, max: 1 });
    expect(hanging.calls).toHaveLength(4);
    expect(await progress(stuck)).toMatchObject({ triggered: 12, completed: 0, failed: 0 });
    expect(await progress(stuckToo)).toMatchObject({ triggered: 5, completed: 0, failed: 0 });
  });

  it('refuses limits.maxInFlight outside 1 to 10000 (422) and a limits that is not an object (400)', async () => {
    const target = await startTarget(() => ({ status: 200 }));
    const attempt = (limits: unknown) =>
      app.request<{ details?: { field: string; message: string }[] }>('POST', '/v1/workflows', {
        id: 'lim',
        name: 'x',
        inputs: [],
        target: { url: target.url },
        limits,
      });
    for (const maxInFlight of [0, 10_001]) {
      const refused = await attempt({ maxInFlight });
      expect(refused.status).toBe(422);
      expect(refused.body.details).toEqual([
        { code: 'invalid_workflow', field: 'limits.maxInFlight', message: 'limits.maxInFlight must be an integer from 1 to 10000' },
      ]);
    }
    expect((await attempt({ maxInFlight: 2.5 })).status).toBe(400);
    expect((await attempt('lots')).status).toBe(400);
    expect((await attempt({ maxInFlight: 10_000 })).status).toBe(201);
  });
});
