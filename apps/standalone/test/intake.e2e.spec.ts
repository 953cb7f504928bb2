import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import type { BatchView, ExecutionView } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, tempDir } from '@flotilla/testing';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  details?: { code: string; field?: string; row?: number; column?: string; message: string }[];
}

/** CSV uploads, previews and every kind of bad input, against the real process. */
describe('batch intake', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;

  beforeAll(async () => {
    data = tempDir('flotilla-intake-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    const workflow = await app.request('POST', '/v1/workflows', {
      id: 'crm',
      name: 'CRM sync',
      inputs: [{ name: 'email' }, { name: 'first_name' }, { name: 'company', required: false }],
      target: { url: target.url },
    });
    expect(workflow.status).toBe(201);
  });

  afterAll(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  const csvForm = (csv: string, config: Record<string, unknown> | string | null, fieldsFirst = true): FormData => {
    const form = new FormData();
    const file = new Blob([csv], { type: 'text/csv' });
    const configText = typeof config === 'string' ? config : JSON.stringify(config);
    if (!fieldsFirst) form.append('file', file, 'rows.csv');
    if (config !== null) form.append('config', configText);
    if (fieldsFirst) form.append('file', file, 'rows.csv');
    return form;
  };
  const config = { name: 'csv batch', workflowId: 'crm', maxConcurrent: 100, batchIntervalSeconds: 0 };

  it('creates a batch from a CSV, auto-mapping headers to inputs', async () => {
    const csv = 'Email,First Name,Company,notes\nann@x.io,Ann,Acme,hi\nbob@x.io,Bob,,"multi\nline"\n';
    const created = await app.request<{ id: string; total: number }>('POST', '/v1/batches', csvForm(csv, config, false));
    expect(created).toMatchObject({ status: 201, body: { total: 2 } });
    const view = await eventually(
      () => app.request<BatchView>('GET', `/v1/batches/${created.body.id}`).then((response) => response.body),
      (batch) => batch.progress.completed === 2,
      10_000,
    );
    expect(view.status).toBe('completed');
    const list = (await app.request<{ items: ExecutionView[] }>('GET', `/v1/batches/${created.body.id}/executions`)).body.items;
    expect(list.map((execution) => execution.inputs)).toEqual([
      { email: 'ann@x.io', first_name: 'Ann', company: 'Acme' },
      { email: 'bob@x.io', first_name: 'Bob', company: '' },
    ]);
  });

  it('creates a batch from a CSV with an explicit mapping: input, profile, metadata, skip', async () => {
    const csv = 'mail,who,tier,account,Company\nann@x.io,Ann,gold,A-1,Acme\n';
    const mapping = {
      mail: { type: 'input', field: 'email' },
      who: { type: 'input', field: 'first_name' },
      tier: { type: 'profile' },
      account: { type: 'metadata', key: 'accountId' },
      Company: { type: 'skip' },
    };
    const created = await app.request<{ id: string }>(
      'POST',
      '/v1/batches',
      csvForm(csv, { ...config, defaultProfile: 'standard', mapping }),
    );
    expect(created.status).toBe(201);
    const list = (await app.request<{ items: ExecutionView[] }>('GET', `/v1/batches/${created.body.id}/executions`)).body.items;
    expect(list[0]).toMatchObject({ inputs: { email: 'ann@x.io', first_name: 'Ann' }, profile: 'gold', metadata: { accountId: 'A-1' } });
  });

  it('previews a CSV: the mapping, the first 10 rows with their errors, counts over the whole file', async () => {
    const lines = ['email,first_name,extra'];
    for (let i = 0; i < 14; i++) lines.push(i === 3 ? ',Nobody,x' : i === 12 ? 'z@x.io,Zed' : `u${i}@x.io,U${i},x`);
    const form = new FormData();
    form.append('workflowId', 'crm');
    form.append('file', new Blob([lines.join('\n')]), 'p.csv');
    const preview = await app.request<{
      columns: string[];
      mapping: Record<string, unknown>;
      mappingErrors: unknown[];
      rows: { index: number; valid: boolean; errors: { message: string }[] }[];
      totalRows: number;
      validRows: number;
      invalidRows: number;
    }>('POST', '/v1/batches/preview', form);
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({
      columns: ['email', 'first_name', 'extra'],
      mappingErrors: [],
      totalRows: 14,
      validRows: 12,
      invalidRows: 2,
    });
    expect(preview.body.mapping).toEqual({
      email: { type: 'input', field: 'email' },
      first_name: { type: 'input', field: 'first_name' },
      extra: { type: 'skip' },
    });
    expect(preview.body.rows).toHaveLength(10);
    expect(preview.body.rows[3]).toMatchObject({ index: 3, valid: false, errors: [{ message: 'Row 4: required input "email" is empty' }] });

    const bad = new FormData();
    bad.append('workflowId', 'crm');
    bad.append('mapping', JSON.stringify({ extra: { type: 'metadata' } }));
    bad.append('file', new Blob(['email,extra\na@x.io,1\n']), 'p.csv');
    const withErrors = await app.request<{ mappingErrors: { code: string; message: string }[] }>('POST', '/v1/batches/preview', bad);
    expect(withErrors.body.mappingErrors.map((problem) => problem.message)).toEqual([
      'Column "extra" maps to metadata but has no key',
      'Required input "first_name" is not mapped to any column',
    ]);
  });

  it('refuses invalid rows with 422, naming rows and fields, and creates nothing', async () => {
    const before = (await app.request<{ items: unknown[] }>('GET', '/v1/batches?limit=1000')).body.items.length;
    const ragged = await app.request<ErrorBody>(
      'POST',
      '/v1/batches',
      csvForm('email,first_name\na@x.io,Ann\nb@x.io\nc@x.io,Cy,extra\n,Dee\n', config),
    );
    expect(ragged.status).toBe(422);
    expect(ragged.body.message).toBe('3 of 4 rows are invalid; nothing was created');
    expect(ragged.body.details).toEqual([
      { code: 'column_count', row: 2, message: 'Row 2 has 1 column; the header has 2' },
      { code: 'required_input_empty', row: 2, field: 'first_name', message: 'Row 2: required input "first_name" is empty' },
      { code: 'column_count', row: 3, message: 'Row 3 has 3 columns; the header has 2' },
      { code: 'required_input_empty', row: 4, field: 'email', message: 'Row 4: required input "email" is empty' },
    ]);
    const missing = await app.request<ErrorBody>('POST', '/v1/batches', csvForm('email,company\na@x.io,Acme\n', config));
    expect(missing.status).toBe(422);
    expect(missing.body.details).toEqual([
      { code: 'required_input_unmapped', field: 'first_name', message: 'Required input "first_name" is not mapped to any column' },
    ]);
    const empty = await app.request<ErrorBody>('POST', '/v1/batches', csvForm('', config));
    expect(empty).toMatchObject({ status: 422, body: { message: 'The CSV file is empty: a header row is required' } });
    const headerOnly = await app.request<ErrorBody>('POST', '/v1/batches', csvForm('email,first_name\n', config));
    expect(headerOnly).toMatchObject({ status: 422, body: { message: 'The CSV has a header but no data rows' } });
    const noFile = new FormData();
    noFile.append('config', JSON.stringify(config));
    expect((await app.request<ErrorBody>('POST', '/v1/batches', noFile)).status).toBe(422);
    const badConfig = await app.request<ErrorBody>('POST', '/v1/batches', csvForm('email,first_name\na,b\n', '{not json'));
    expect(badConfig).toMatchObject({ status: 400, body: { details: [{ field: 'config' }] } });
    const after = (await app.request<{ items: unknown[] }>('GET', '/v1/batches?limit=1000')).body.items.length;
    expect(after).toBe(before);
  });

  it('discards the chunks a refused upload had written: its rows leave the read models, the stream ends with the discard', async () => {
    const rows = Array.from({ length: 3500 }, (_, i) => `u${i}@x.io,U${i}`);
    const refused = await app.request<ErrorBody>('POST', '/v1/batches', csvForm(`email,first_name\n${rows.join('\n')}\n,Late\n`, config));
    expect(refused.status).toBe(422);
    expect(refused.body.message).toBe('1 of 3501 rows is invalid; nothing was created');

    const events = new DatabaseSync(join(data.path, 'events.sqlite'), { readOnly: true });
    const state = new DatabaseSync(join(data.path, 'standalone-state.sqlite'), { readOnly: true });
    try {
      const discarded = events.prepare("SELECT stream, revision, data FROM events WHERE type = 'BatchItemsDiscarded'").all() as {
        stream: string;
        revision: number;
        data: string;
      }[];
      expect(discarded).toHaveLength(1);
      const { batchId, reason } = JSON.parse(discarded[0]?.data ?? '{}') as { batchId: string; reason: string };
      expect(discarded[0]).toMatchObject({ stream: `batchitems-${batchId}` });
      expect(reason).toBe('RuleViolation');
      // The three full chunks appended before the invalid row came, then the discard.
      const chunks = events
        .prepare("SELECT count(*) AS n FROM events WHERE stream = ? AND type = 'BatchItemsChunkRecorded'")
        .get(`batchitems-${batchId}`);
      expect(chunks).toEqual({ n: 3 });
      expect(discarded[0]?.revision).toBe(3);
      // A batch accepted after it: once its executions are listed, the projection has passed the discard.
      const later = await app.request<{ id: string }>('POST', '/v1/batches', csvForm('email,first_name\nz@x.io,Zed\n', config));
      expect(later.status).toBe(201);
      await eventually(
        () => app.request<{ items: unknown[] }>('GET', `/v1/batches/${later.body.id}/executions`).then((response) => response.body.items),
        (items) => items.length === 1,
        10_000,
      );
      const rowsOf = (table: string, id: string) => state.prepare(`SELECT count(*) AS n FROM ${table} WHERE batch_id = ?`).get(id);
      expect([rowsOf('execution_items', batchId), rowsOf('executions', batchId)]).toEqual([{ n: 0 }, { n: 0 }]);
      expect(rowsOf('execution_items', later.body.id)).toEqual({ n: 1 });
    } finally {
      events.close();
      state.close();
    }
  });

  it('answers every bad JSON body with the documented 4xx and the error shape', async () => {
    const base = {
      name: 'j',
      workflowId: 'crm',
      maxConcurrent: 5,
      batchIntervalSeconds: 0,
      items: [{ inputs: { email: 'a@x.io', first_name: 'A' } }],
    };
    const cases: [string, unknown, number, string?][] = [
      ['wrong type', { ...base, maxConcurrent: 'five' }, 400, 'maxConcurrent'],
      ['items not an array', { ...base, items: 'nope' }, 400, 'items'],
      ['unknown field', { ...base, colour: 'red' }, 400, 'colour'],
      ['non-ISO startAt', { ...base, startAt: 'next tuesday' }, 400, 'startAt'],
      ['maxConcurrent 0', { ...base, maxConcurrent: 0 }, 422, 'maxConcurrent'],
      ['negative maxConcurrent', { ...base, maxConcurrent: -3 }, 422, 'maxConcurrent'],
      ['maxConcurrent over 10000', { ...base, maxConcurrent: 10001 }, 422, 'maxConcurrent'],
      ['negative interval', { ...base, batchIntervalSeconds: -1 }, 422, 'batchIntervalSeconds'],
      ['no items', { ...base, items: [] }, 400, 'items'],
      ['missing required input', { ...base, items: [{ inputs: { email: 'a@x.io' } }] }, 422, 'items[0].inputs.first_name'],
      ['unknown input', { ...base, items: [{ inputs: { email: 'a@x.io', first_name: 'A', emial: 'x' } }] }, 422, 'items[0].inputs.emial'],
      ['unknown workflow', { ...base, workflowId: 'ghost' }, 404],
      ['unknown workflow version', { ...base, workflowVersion: 7 }, 404],
    ];
    for (const [name, body, status, field] of cases) {
      const response = await app.request<ErrorBody>('POST', '/v1/batches', body);
      expect([name, response.status]).toEqual([name, status]);
      expect(response.body).toEqual(
        expect.objectContaining({ statusCode: status, error: expect.any(String), message: expect.any(String) }),
      );
      if (field) expect([name, response.body.details?.map((problem) => problem.field)]).toEqual([name, expect.arrayContaining([field])]);
    }
    const malformed = await app.request<ErrorBody>('POST', '/v1/batches', '{"name": ', { 'content-type': 'application/json' });
    expect(malformed).toMatchObject({ status: 400, body: { message: 'The request body is not valid JSON' } });
    const oversized = await app.request<ErrorBody>('POST', '/v1/batches', JSON.stringify({ ...base, name: 'x'.repeat(60 * 1024 * 1024) }), {
      'content-type': 'application/json',
    });
    expect(oversized).toMatchObject({ status: 413, body: { statusCode: 413, error: 'Payload Too Large' } });
    expect((await app.request<ErrorBody>('GET', '/v1/batches/bat_nope')).status).toBe(404);
    expect((await app.request<ErrorBody>('POST', '/v1/batches/bat_nope/pause', {})).body).toMatchObject({
      statusCode: 404,
      error: 'Not Found',
      message: 'Batch bat_nope does not exist',
    });
    expect((await app.request<ErrorBody>('GET', '/v1/batches?limit=0')).status).toBe(400);
    expect((await app.request<ErrorBody>('GET', '/v1/batches?status=weird')).status).toBe(400);
  });
});
