import type { BatchView } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, tempDir } from '@flotilla/testing';

/** One sample of the Prometheus text: the value of `name` with exactly these labels, or null when absent. */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number | null => {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const found = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (found === wanted) return Number(match[3]);
  }
  return null;
};

/** The JSON log lines of the process's output (every line it writes is one). */
const logLines = (output: readonly string[]): Record<string, unknown>[] =>
  output
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('metrics and structured logs of the real product', () => {
  const data = tempDir('flotilla-metrics-');
  const target = new TargetServer();
  let app: PlatformProcess;
  const inputValue = 'an-input-value-that-must-never-be-logged';
  const apiKey = 'flt_a-key-that-must-never-be-logged';

  beforeAll(async () => {
    // The target answers after 20 ms, so each call's duration is seen, and refuses the item "no" (a 400 is not retried).
    target.respond = async (call) => {
      await new Promise((done) => setTimeout(done, 20));
      return call.body.inputs['text'] === 'no' ? { status: 400, body: { refused: true } } : { status: 200, body: { ok: true } };
    };
    await target.start();
    app = new PlatformProcess(await freePort(), data.path, { LOG_LEVEL: 'debug', AUTH: 'disabled' });
    await app.start();
    const workflow = await app.request('POST', '/v1/workflows', {
      id: 'measured',
      name: 'Measured',
      inputs: [{ name: 'text' }],
      target: { url: target.url },
      retry: { maxAttempts: 1 },
    });
    expect(workflow.status).toBe(201);
  });

  afterAll(async () => {
    await app.stop();
    await target.stop();
    data.remove();
  });

  const metrics = async (): Promise<{ status: number; type: string | null; text: string }> => {
    const response = await fetch(`${app.url}/metrics`);
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };

  it('serves Prometheus text with the Node process metrics, and its counters move as a batch runs', async () => {
    const before = await metrics();
    expect(before.status).toBe(200);
    expect(before.type).toMatch(/^text\/plain/);
    expect(before.text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(before.text).toContain('# TYPE nodejs_heap_size_used_bytes gauge');
    expect(sample(before.text, 'flotilla_target_call_duration_seconds_count', { result: 'response' })).toBeNull();
    expect(sample(before.text, 'flotilla_wave_lateness_seconds_count')).toBe(0);
    expect(sample(before.text, 'flotilla_batches', { status: 'completed' })).toBe(0);
    expect(sample(before.text, 'flotilla_executor_queue_depth')).toBe(0);
    expect(sample(before.text, 'flotilla_throttled_workflows')).toBe(0);

    const created = await app.request<{ id: string }>(
      'POST',
      '/v1/batches',
      {
        name: 'measured batch',
        workflowId: 'measured',
        maxConcurrent: 2,
        batchIntervalSeconds: 0,
        items: [{ inputs: { text: inputValue } }, { inputs: { text: 'b' } }, { inputs: { text: 'no' } }],
      },
      { authorization: `Bearer ${apiKey}` },
    );
    expect(created.status).toBe(201);
    await eventually(
      () => app.request<BatchView>('GET', `/v1/batches/${created.body.id}`).then((response) => response.body),
      // Completed once every execution is triggered; the outcomes follow.
      (batch) => batch.status === 'completed' && batch.progress.completed + batch.progress.failed === 3,
      15_000,
    );

    const after = (await metrics()).text;
    expect(sample(after, 'flotilla_executions_total', { workflow: 'measured', outcome: 'completed' })).toBe(2);
    expect(sample(after, 'flotilla_executions_total', { workflow: 'measured', outcome: 'failed' })).toBe(1);
    expect(sample(after, 'flotilla_target_call_duration_seconds_count', { result: 'response' })).toBe(3);
    // Three calls of at least 20 ms each.
    expect(sample(after, 'flotilla_target_call_duration_seconds_sum', { result: 'response' })).toBeGreaterThanOrEqual(0.06);
    expect(sample(after, 'flotilla_target_call_duration_seconds_bucket', { result: 'response', le: '0.01' })).toBe(0);
    expect(sample(after, 'flotilla_wave_lateness_seconds_count')).toBe(3);
    expect(sample(after, 'flotilla_wave_lateness_seconds_bucket', { le: '+Inf' })).toBe(3);
    expect(sample(after, 'flotilla_batches', { status: 'completed' })).toBe(1);
    expect(sample(after, 'flotilla_batches', { status: 'running' })).toBe(0);
    // The executor lets go of an execution once its outcome is appended, a moment after the read model has it.
    await eventually(
      async () => sample((await metrics()).text, 'flotilla_executor_queue_depth'),
      (depth) => depth === 0,
      5_000,
    );

    // The same metrics as JSON, for a script.
    const json = await fetch(`${app.url}/metrics`, { headers: { accept: 'application/json' } });
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const executions = ((await json.json()) as { name: string; values: { value: number; labels: Record<string, string> }[] }[]).find(
      (metric) => metric.name === 'flotilla_executions_total',
    );
    expect(executions?.values).toEqual(expect.arrayContaining([{ value: 2, labels: { workflow: 'measured', outcome: 'completed' } }]));

    // Every line the process wrote is JSON; the executor's lines name their batch and execution.
    const lines = logLines(app.output);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.every((line) => typeof line['level'] === 'string' && typeof line['msg'] === 'string')).toBe(true);
    const calls = lines.filter((line) => line['context'] === 'Executor' && line['batchId'] === created.body.id);
    const called = calls.filter((line) => line['level'] === 'DEBUG' && String(line['msg']).startsWith('Called the target'));
    expect(new Set(called.map((line) => line['executionId'])).size).toBe(3);
    expect(called.every((line) => typeof line['executionId'] === 'string' && typeof line['durationMs'] === 'number')).toBe(true);
    const failed = calls.find((line) => line['level'] === 'INFO');
    expect(failed).toMatchObject({ batchId: created.body.id, statusCode: 400, attempts: 1 });
    expect(typeof failed?.['executionId']).toBe('string');
    // The request that carried the key is logged with its Authorization header redacted, and no body.
    const post = lines.find((line) => (line['req'] as { method?: string; url?: string } | undefined)?.url === '/v1/batches');
    expect(post).toMatchObject({
      level: 'INFO',
      req: { method: 'POST', headers: { authorization: '[redacted]' } },
      res: { statusCode: 201 },
    });
    const everything = app.output.join('');
    expect(everything).not.toContain(apiKey);
    expect(everything).not.toContain(inputValue);
  });

  it('writes nothing below the level LOG_LEVEL sets', async () => {
    const quiet = new PlatformProcess(await freePort(), tempDir('flotilla-metrics-quiet-').path, { LOG_LEVEL: 'warn', AUTH: 'disabled' });
    await quiet.start();
    try {
      expect((await quiet.request('GET', '/v1/batches/none')).status).toBe(404);
      await quiet.request('POST', '/v1/workflows', { id: 'bad id!' });
      const lines = logLines(quiet.output);
      expect(lines.filter((line) => line['level'] === 'INFO' || line['level'] === 'DEBUG')).toEqual([]);
    } finally {
      await quiet.stop();
    }
    // The default is info: the first process logged its start at INFO, and nothing at DEBUG before LOG_LEVEL=debug asked for it.
    expect(logLines(app.output).some((line) => line['level'] === 'INFO' && String(line['msg']).startsWith('listening on'))).toBe(true);
  });
});

describe('parser limits', () => {
  const data = tempDir('flotilla-limits-');
  let app: PlatformProcess;
  const MiB = 1024 * 1024;

  beforeAll(async () => {
    app = new PlatformProcess(await freePort(), data.path, { AUTH: 'disabled' });
    await app.start();
    const workflow = await app.request('POST', '/v1/workflows', {
      id: 'limited',
      name: 'Limited',
      inputs: [{ name: 'text' }],
      target: { url: 'http://127.0.0.1:9/run' },
    });
    expect(workflow.status).toBe(201);
  });

  afterAll(async () => {
    await app.stop();
    data.remove();
  });

  const settings = { name: 'limits', workflowId: 'limited', maxConcurrent: 1, batchIntervalSeconds: 60, startAt: '2099-01-01T00:00:00Z' };
  const csvForm = (csv: string): FormData => {
    const form = new FormData();
    form.append('config', JSON.stringify(settings));
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'rows.csv');
    return form;
  };
  interface ErrorBody {
    message: string;
    details: { code: string; field?: string; row?: number; column?: string }[];
  }
  const batchCount = async (): Promise<number> =>
    (await app.request<{ items: unknown[] }>('GET', '/v1/batches?limit=100')).body.items.length;

  it('refuses a JSON string over 1 MiB naming its item and input (the item rules, stricter, come first)', async () => {
    const before = await batchCount();
    const answer = await app.request<ErrorBody>('POST', '/v1/batches', {
      ...settings,
      items: [{ inputs: { text: 'fine' } }, { inputs: { text: 'x'.repeat(MiB + 1) } }],
    });
    expect(answer.status).toBe(422);
    expect(answer.body.details).toEqual([expect.objectContaining({ row: 2 })]);
    expect(JSON.stringify(answer.body.details)).toContain('items[1]');
    expect(await batchCount()).toBe(before);
  });

  it('refuses JSON nested deeper than 64 levels with 400, in a body and in a multipart JSON field', async () => {
    const deep = (levels: number): unknown => (levels === 0 ? 1 : { a: deep(levels - 1) });
    const body = await app.request<ErrorBody>('POST', '/v1/batches', {
      ...settings,
      metadata: deep(70),
      items: [{ inputs: { text: 'a' } }],
    });
    expect(body.status).toBe(400);
    expect(body.body.details[0]).toMatchObject({ code: 'too_deep', field: 'body' });
    const form = new FormData();
    form.append('config', JSON.stringify({ ...settings, metadata: deep(70) }));
    form.append('file', new Blob(['text\na\n'], { type: 'text/csv' }), 'rows.csv');
    const field = await app.request<ErrorBody>('POST', '/v1/batches', form);
    expect(field.status).toBe(400);
    expect(field.body.details[0]).toMatchObject({ code: 'too_deep', field: 'config' });
  });

  it('refuses a CSV with more than 1,000 columns with 422 naming the row', async () => {
    const before = await batchCount();
    const wide = Array.from({ length: 1001 }, (_, i) => (i === 0 ? 'text' : `c${i}`)).join(',');
    const header = await app.request<ErrorBody>('POST', '/v1/batches', csvForm(`${wide}\n${'a,'.repeat(1000)}a\n`));
    expect(header.status).toBe(422);
    expect(header.body.message).toContain('The header row has 1001 columns; a CSV may have at most 1000');
    expect(header.body.details).toEqual([expect.objectContaining({ code: 'csv_too_many_columns', field: 'file' })]);
    const row = await app.request<ErrorBody>('POST', '/v1/batches', csvForm(`text\na\n${'b,'.repeat(1500)}b\n`));
    expect(row.status).toBe(422);
    expect(row.body.details).toEqual([expect.objectContaining({ code: 'csv_too_many_columns', row: 2 })]);
    expect(row.body.message).toContain('Row 2 has 1501 columns');
    expect(await batchCount()).toBe(before);
  });

  it('refuses a CSV cell over 1 MiB with 413 naming its row and column', async () => {
    const before = await batchCount();
    const answer = await app.request<ErrorBody>('POST', '/v1/batches', csvForm(`text\nshort\n"${'z'.repeat(MiB + 10)}"\n`));
    expect(answer.status).toBe(413);
    expect(answer.body.message).toContain('Row 2, column "text", is larger than 1 MiB');
    expect(answer.body.details).toEqual([expect.objectContaining({ code: 'too_large', field: 'file', row: 2, column: 'text' })]);
    expect(await batchCount()).toBe(before);
  });
});
