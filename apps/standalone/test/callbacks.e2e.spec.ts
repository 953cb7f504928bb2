import type { ExecutionView, HistoryEntry } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, tempDir, type TargetAnswer } from '@flotilla/testing';

/**
 * The result callback of async targets, against the real process: only the target that received an
 * execution (it holds the callback token) can settle it, and only while it awaits its callback.
 */
describe('execution result callbacks', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;

  beforeEach(async () => {
    data = tempDir('flotilla-callbacks-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
  });

  afterEach(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  const register = async (id: string, targetSettings: Record<string, unknown>) => {
    const response = await app.request('POST', '/v1/workflows', {
      id,
      name: id,
      inputs: [{ name: 'n' }],
      target: { url: target.url, ...targetSettings },
      retry: { maxAttempts: 1, backoffMs: 0 },
    });
    expect(response.status).toBe(201);
  };
  const submit = async (workflowId: string, total: number): Promise<string> => {
    const items = Array.from({ length: total }, (_, n) => ({ inputs: { n: String(n) } }));
    const response = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'cb',
      workflowId,
      maxConcurrent: total,
      batchIntervalSeconds: 0,
      items,
    });
    expect(response.status).toBe(201);
    return response.body.id;
  };
  const execution = async (id: string) => (await app.request<ExecutionView>('GET', `/v1/executions/${id}`)).body;
  const history = async (batchId: string) =>
    (await app.request<{ items: HistoryEntry[] }>('GET', `/v1/batches/${batchId}/history?limit=1000`)).body.items;
  const tokenOf = (executionId: string): string => {
    const call = target.calls.find((each) => each.body.executionId === executionId);
    if (call === undefined) throw new Error(`${executionId} was not called`);
    return call.body.callbackToken;
  };
  const post = (executionId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.request<{ statusCode: number; error: string; message: string }>('POST', `/v1/executions/${executionId}/result`, body, headers);

  it('an async callback needs the token its target received: none or a wrong one is 403, the right one 200, a second callback 409', async () => {
    await register('async-wf', { mode: 'async', timeoutMs: 2000, callbackTimeoutMs: 60_000 });
    target.respond = () => ({ status: 202 });
    const batchId = await submit('async-wf', 2);
    await eventually(
      () => history(batchId),
      (entries) => entries.filter((entry) => entry.type === 'ExecutionAccepted').length === 2,
      10_000,
      'both accepted',
    );
    const [first, second] = [`${batchId}.0`, `${batchId}.1`];
    const token = tokenOf(first);
    expect(token).toMatch(/^[0-9a-f]{64}$/);

    const missing = await post(first, { status: 'completed', output: { forged: true } });
    expect(missing).toEqual({
      status: 403,
      body: {
        statusCode: 403,
        error: 'Forbidden',
        message: `The callback token of execution ${first} is missing or wrong: send the callbackToken the target received, as the body field callbackToken or the X-Callback-Token header`,
      },
    });
    const flipped = `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`;
    expect((await post(first, { status: 'completed', callbackToken: flipped })).status).toBe(403);
    expect((await post(first, { status: 'completed' }, { 'X-Callback-Token': flipped })).status).toBe(403);
    // One execution's token settles no other.
    expect((await post(second, { status: 'completed', callbackToken: token })).status).toBe(403);
    expect((await execution(first)).outcome).toBeNull();

    // The header form, then the body form.
    const viaHeader = await post(first, { status: 'completed', output: { score: 7 } }, { 'X-Callback-Token': token });
    expect(viaHeader).toMatchObject({
      status: 200,
      body: { status: 'triggered', attempts: 1, outcome: { status: 'completed', output: { score: 7 } } },
    });
    const viaBody = await post(second, { status: 'failed', error: 'out of stock', callbackToken: tokenOf(second) });
    expect(viaBody).toMatchObject({ status: 200, body: { status: 'triggered', outcome: { status: 'failed', error: 'out of stock' } } });

    const again = await post(first, { status: 'failed', error: 'late', callbackToken: token });
    expect(again).toMatchObject({
      status: 409,
      body: { statusCode: 409, message: `Cannot record a callback result of execution ${first}: it is completed` },
    });
    expect((await execution(first)).outcome).toMatchObject({ status: 'completed', output: { score: 7 } });
  });

  it("a sync execution's outcome cannot be forged while its call is in flight, even with its token; the real outcome stands", async () => {
    await register('sync-wf', { timeoutMs: 10_000 });
    let answer: (value: TargetAnswer) => void = () => undefined;
    target.respond = () => new Promise<TargetAnswer>((resolve) => (answer = resolve));
    const batchId = await submit('sync-wf', 1);
    const id = `${batchId}.0`;
    await eventually(
      async () => target.calls.length,
      (count) => count === 1,
      10_000,
      'the call',
    );
    const token = tokenOf(id);

    expect((await post(id, { status: 'completed', output: { forged: true } })).status).toBe(403);
    const forged = await post(id, { status: 'completed', output: { forged: true }, callbackToken: token });
    expect(forged).toMatchObject({
      status: 409,
      body: {
        statusCode: 409,
        error: 'Conflict',
        message: `Cannot record a callback result of execution ${id}: it is triggered and not awaiting a callback`,
      },
    });
    expect((await post(id, { status: 'failed', error: 'forged' }, { 'X-Callback-Token': token })).status).toBe(409);

    answer({ status: 200, body: { real: true } });
    const settled = await eventually(
      () => execution(id),
      (view) => view.outcome !== null,
      10_000,
      'the real outcome',
    );
    expect(settled.outcome).toMatchObject({ status: 'completed', output: { real: true } });
    expect((await post(id, { status: 'completed', output: { forged: true }, callbackToken: token })).status).toBe(409);
    expect((await execution(id)).outcome).toMatchObject({ status: 'completed', output: { real: true } });
    expect((await history(batchId)).filter((entry) => entry.type === 'ExecutionCompleted')).toHaveLength(1);
  });

  it('an async execution waits callbackTimeoutMs for its callback, not timeoutMs', async () => {
    await register('deadline-wf', { mode: 'async', timeoutMs: 200, callbackTimeoutMs: 2500 });
    target.respond = () => ({ status: 202 });
    const batchId = await submit('deadline-wf', 1);
    const accepted = await eventually(
      () => history(batchId),
      (entries) => entries.some((entry) => entry.type === 'ExecutionAccepted'),
      10_000,
      'accepted',
    );
    const acceptance = accepted.find((entry) => entry.type === 'ExecutionAccepted')!;
    const { deadline, occurredAt } = acceptance.data as { deadline: string; occurredAt: string };
    expect(Date.parse(deadline) - Date.parse(occurredAt)).toBe(2500);
    // Well past timeoutMs, still awaiting.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await execution(`${batchId}.0`)).outcome).toBeNull();
    const failed = await eventually(
      () => execution(`${batchId}.0`),
      (view) => view.outcome !== null,
      10_000,
      'the deadline',
    );
    expect(failed.outcome).toMatchObject({ status: 'failed', error: 'No result arrived on the callback before the workflow timeout' });
  });

  it('workflow timeouts: one call at most 15 minutes, the callback at most 24 hours, both named when refused', async () => {
    const attempt = (targetSettings: Record<string, unknown>) =>
      app.request<{ statusCode: number; details?: { field: string; message: string }[] }>('POST', '/v1/workflows', {
        id: `wf-${Math.random().toString(36).slice(2, 8)}`,
        name: 'x',
        inputs: [],
        target: { url: target.url, ...targetSettings },
      });
    const tooLong = await attempt({ timeoutMs: 900_001 });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.details).toEqual([
      {
        code: 'invalid_workflow',
        field: 'target.timeoutMs',
        message: 'target.timeoutMs must be an integer from 1 to 900000 (15 minutes, one call of the target)',
      },
    ]);
    const callbackTooLong = await attempt({ mode: 'async', callbackTimeoutMs: 86_400_001 });
    expect(callbackTooLong.status).toBe(422);
    expect(callbackTooLong.body.details?.map((problem) => problem.field)).toEqual(['target.callbackTimeoutMs']);
    expect((await attempt({ callbackTimeoutMs: 'soon' })).status).toBe(400);

    const fine = await app.request('POST', '/v1/workflows', {
      id: 'ok-wf',
      name: 'x',
      inputs: [],
      target: { url: target.url, mode: 'async', timeoutMs: 900_000 },
    });
    expect(fine).toMatchObject({
      status: 201,
      body: { target: { mode: 'async', timeoutMs: 900_000, callbackTimeoutMs: 3_600_000 }, limits: {} },
    });
  });
});
