import type { BatchView, ExecutionView } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, tempDir, type TargetAnswer } from '@flotilla/testing';

interface Result {
  id: string;
  index: number;
  status: string;
  inputs: Record<string, unknown>;
  profile: string | null;
  metadata: Record<string, unknown>;
  attempts: number;
  output: unknown;
  error: string | null;
  executeAt: string | null;
  triggeredAt: string | null;
  finishedAt: string | null;
}

/** GET /v1/batches/{id}/results against the real process and a target that fails every input starting with "bad". */
describe('batch results', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;
  const held: (() => void)[] = [];

  beforeAll(async () => {
    data = tempDir('flotilla-results-');
    target = new TargetServer();
    target.respond = (call): TargetAnswer | Promise<TargetAnswer> => {
      const email = String(call.body.inputs['email']);
      if (email.startsWith('bad')) return { status: 422, body: { reason: `refused ${email}` } };
      const answer = { status: 200, body: { echo: email } };
      if (email.startsWith('hold')) return new Promise((done) => held.push(() => done(answer)));
      return answer;
    };
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    const workflow = await app.request('POST', '/v1/workflows', {
      id: 'export',
      name: 'Export',
      inputs: [{ name: 'email' }, { name: 'n', required: false }],
      target: { url: target.url },
      retry: { maxAttempts: 1 },
    });
    expect(workflow.status).toBe(201);
  });

  afterAll(async () => {
    held.forEach((release) => release());
    await app.kill();
    await target.stop();
    data.remove();
  });

  const raw = async (path: string): Promise<{ status: number; headers: Headers; text: string }> => {
    const response = await fetch(`${app.url}${path}`);
    return { status: response.status, headers: response.headers, text: await response.text() };
  };

  const settled = (id: string, outcomes: number): Promise<BatchView> =>
    eventually(
      () => app.request<BatchView>('GET', `/v1/batches/${id}`).then((response) => response.body),
      (batch) => batch.progress.completed + batch.progress.failed + batch.progress.cancelled >= outcomes,
      15_000,
    );

  /** What the results must say, built from the executions API: the other read of the same executions. */
  const expectedResults = async (id: string): Promise<Result[]> => {
    const page = await app.request<{ items: ExecutionView[] }>('GET', `/v1/batches/${id}/executions?limit=1000`);
    return page.body.items.map((execution) => ({
      id: execution.id,
      index: execution.index,
      status: execution.outcome?.status ?? execution.status,
      inputs: execution.inputs,
      profile: execution.profile,
      metadata: execution.metadata,
      attempts: execution.attempts,
      output: execution.outcome?.output ?? null,
      error: execution.outcome?.error ?? null,
      executeAt: execution.executeAt,
      triggeredAt: execution.triggeredAt,
      finishedAt: execution.outcome?.finishedAt ?? null,
    }));
  };

  const csvForm = (csv: string, config: Record<string, unknown>): FormData => {
    const form = new FormData();
    form.append('config', JSON.stringify(config));
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'rows.csv');
    return form;
  };

  describe('a JSON batch', () => {
    let id: string;
    let failedError: string;

    beforeAll(async () => {
      const created = await app.request<{ id: string }>('POST', '/v1/batches', {
        name: 'Spring / promo: "EU"',
        workflowId: 'export',
        maxConcurrent: 10,
        batchIntervalSeconds: 0,
        items: [
          { inputs: { email: 'a@x.io', n: 1 }, metadata: { team: 'red' } },
          { inputs: { email: 'bad1@x.io', n: -5 }, profile: 'p2' },
          { inputs: { email: '=HYPERLINK("http://evil")' }, metadata: { note: '-2+3', team: '@blue' } },
          { inputs: { email: 'c@x.io', n: { deep: [1, 2] } } },
        ],
      });
      expect(created.status).toBe(201);
      id = created.body.id;
      await settled(id, 4);
      const failed = (await app.request<ExecutionView>('GET', `/v1/executions/${id}.1`)).body;
      failedError = failed.outcome?.error ?? '';
      expect(failedError).toContain('422');
    });

    it('answers every execution as a JSON array, in index order, by default', async () => {
      const response = await raw(`/v1/batches/${id}/results`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="Spring_promo_EU-results.json"');
      const results = JSON.parse(response.text) as Result[];
      expect(results).toEqual(await expectedResults(id));
      expect(results.map((result) => [result.index, result.status, result.output])).toEqual([
        [0, 'completed', { echo: 'a@x.io' }],
        [1, 'failed', null],
        [2, 'completed', { echo: '=HYPERLINK("http://evil")' }],
        [3, 'completed', { echo: 'c@x.io' }],
      ]);
      expect(results[1]).toMatchObject({ error: failedError, profile: 'p2', attempts: 1 });
      expect(Object.keys(results[0] ?? {})).toEqual([
        'id',
        'index',
        'status',
        'inputs',
        'profile',
        'metadata',
        'attempts',
        'output',
        'error',
        'executeAt',
        'triggeredAt',
        'finishedAt',
      ]);
    });

    it('answers JSON Lines, one object per line', async () => {
      const response = await raw(`/v1/batches/${id}/results?format=jsonl`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
      expect(response.text.endsWith('\n')).toBe(true);
      const lines = response.text.trimEnd().split('\n');
      expect(lines.map((line) => JSON.parse(line) as Result)).toEqual(await expectedResults(id));
    });

    it('answers CSV: inputs, profile, metadata keys seen, then status, output, error, attempts; formulas neutralised', async () => {
      const response = await raw(`/v1/batches/${id}/results?format=csv`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="Spring_promo_EU-results.csv"');
      const quotedError = /[",\r\n]/.test(failedError) ? `"${failedError.replace(/"/g, '""')}"` : failedError;
      expect(response.text).toBe(
        [
          'email,n,profile,metadata.team,metadata.note,status,output,error,attempts',
          'a@x.io,1,,red,,completed,"{""echo"":""a@x.io""}",,1',
          `bad1@x.io,-5,p2,,,failed,,${quotedError},1`,
          `"'=HYPERLINK(""http://evil"")",,,"'@blue","'-2+3",completed,"{""echo"":""=HYPERLINK(\\""http://evil\\"")""}",,1`,
          'c@x.io,"{""deep"":[1,2]}",,,,completed,"{""echo"":""c@x.io""}",,1',
          '',
        ].join('\r\n'),
      );
    });

    it('filters on status, and names the failed rows file -failed.csv', async () => {
      const failed = await raw(`/v1/batches/${id}/results?format=csv&status=failed`);
      expect(failed.headers.get('content-disposition')).toBe('attachment; filename="Spring_promo_EU-failed.csv"');
      expect(failed.text.split('\r\n').slice(1, -1)).toHaveLength(1);
      expect(failed.text.split('\r\n')[1]).toMatch(/^bad1@x\.io,-5,p2,,,failed,/);
      const completed = JSON.parse((await raw(`/v1/batches/${id}/results?status=completed`)).text) as Result[];
      expect(completed.map((result) => result.index)).toEqual([0, 2, 3]);
      expect(JSON.parse((await raw(`/v1/batches/${id}/results?status=pending`)).text)).toEqual([]);
    });

    it('refuses a bad format or status (400) and an unknown batch (404) in the error shape', async () => {
      const format = await app.request<{ statusCode: number; message: string }>('GET', `/v1/batches/${id}/results?format=xml`);
      expect(format).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request' } });
      expect(format.body.message).toMatch(/format must be one of csv, json, jsonl/);
      const status = await app.request<{ message: string }>('GET', `/v1/batches/${id}/results?status=done`);
      expect(status.status).toBe(400);
      expect(status.body.message).toMatch(/status must be one of pending, triggered, completed, failed, cancelled/);
      const unknown = await app.request<{ statusCode: number; message: string }>('GET', '/v1/batches/bat_nope/results?format=csv');
      expect(unknown).toMatchObject({ status: 404, body: { statusCode: 404, error: 'Not Found' } });
      expect(unknown.body.message).toContain('bat_nope');
    });
  });

  it('round trip: the failed rows of a CSV batch come back under the original headers, are fixed, uploaded again and run', async () => {
    const mapping = {
      Mail: { type: 'input', field: 'email' },
      Notes: { type: 'metadata', key: 'note' },
      Tier: { type: 'profile' },
      Ignored: { type: 'skip' },
    };
    const config = { name: 'Round trip: été', workflowId: 'export', maxConcurrent: 10, batchIntervalSeconds: 0, mapping };
    const csv = 'Tier,Mail,Ignored,Notes\ngold,ok1@x.io,zzz,first\nsilver,bad2@x.io,zzz,"has, comma"\ngold,bad3@x.io,zzz,"=1+1"\n';
    const created = await app.request<{ id: string }>('POST', '/v1/batches', csvForm(csv, config));
    expect(created.status).toBe(201);
    await settled(created.body.id, 3);

    const failed = await raw(`/v1/batches/${created.body.id}/results?format=csv&status=failed`);
    expect(failed.headers.get('content-disposition')).toBe('attachment; filename="Round_trip_ete-failed.csv"');
    const lines = failed.text.split('\r\n');
    expect(lines[0]).toBe('Tier,Mail,Notes,status,output,error,attempts');
    expect(lines.slice(1).map((line) => line.split(',').slice(0, 4).join(','))).toEqual([
      'silver,bad2@x.io,"has, comma"',
      `gold,bad3@x.io,"'=1+1",failed`,
      '',
    ]);

    const fixed = failed.text.replace(/bad(\d)@/g, 'good$1@');
    const again = await app.request<{ id: string; total: number }>('POST', '/v1/batches', csvForm(fixed, config));
    expect(again).toMatchObject({ status: 201, body: { total: 2 } });
    const rerun = await settled(again.body.id, 2);
    expect(rerun.progress).toMatchObject({ completed: 2, failed: 0 });
    const results = JSON.parse((await raw(`/v1/batches/${again.body.id}/results`)).text) as Result[];
    expect(results.map((result) => [result.inputs, result.profile, result.metadata, result.status])).toEqual([
      [{ email: 'good2@x.io' }, 'silver', { note: 'has, comma' }, 'completed'],
      [{ email: 'good3@x.io' }, 'gold', { note: "'=1+1" }, 'completed'],
    ]);
  });

  it('gives partial results while the batch runs: outcomes so far, called without an outcome, still pending', async () => {
    const created = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'partial',
      workflowId: 'export',
      maxConcurrent: 2,
      batchIntervalSeconds: 3600,
      items: [{ inputs: { email: 'a@x.io' } }, { inputs: { email: 'hold@x.io' } }, { inputs: { email: 'later@x.io' } }],
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    await settled(id, 1);
    await eventually(
      async () => held.length,
      (count) => count === 1,
      10_000,
    );
    const jsonl = (await raw(`/v1/batches/${id}/results?format=jsonl`)).text;
    const running = jsonl
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Result);
    expect(running.map((result) => result.status)).toEqual(['completed', 'triggered', 'pending']);
    expect(running).toEqual(await expectedResults(id));
    expect(running[1]).toMatchObject({ output: null, error: null, finishedAt: null, attempts: 1 });
    expect(running[2]).toMatchObject({ triggeredAt: null, attempts: 0 });
    const triggered = JSON.parse((await raw(`/v1/batches/${id}/results?status=triggered`)).text) as Result[];
    expect(triggered.map((result) => result.index)).toEqual([1]);
    const csv = (await raw(`/v1/batches/${id}/results?format=csv&status=pending`)).text;
    expect(csv).toBe('email,n,profile,status,output,error,attempts\r\nlater@x.io,,,pending,,,0\r\n');

    held.shift()?.();
    expect((await app.request('POST', `/v1/batches/${id}/cancel`, {})).status).toBe(200);
    await settled(id, 3);
    const final = JSON.parse((await raw(`/v1/batches/${id}/results`)).text) as Result[];
    expect(final.map((result) => result.status)).toEqual(['completed', 'completed', 'cancelled']);
    expect(final[2]?.finishedAt).not.toBeNull();
  });
});
