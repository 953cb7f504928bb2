import type { BatchView, ExecutionView } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, tempDir } from '@flotilla/testing';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  details?: { code: string; field?: string; row?: number; column?: string; message: string }[];
}

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Input a hostile or careless client sends: dangerous object keys, null and arrays where objects
 * belong, date strings that only look like dates, intervals and metadata that overflow, bogus
 * cursors, malformed URLs. Every one gets a 4xx naming the field, never a 500, and creates nothing.
 */
describe('hostile input', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;

  const base = { name: 'hostile', workflowId: 'plain', maxConcurrent: 10, batchIntervalSeconds: 0 };
  const item = { inputs: { n: 'x' } };

  /** Sends `json` as it is written: a JS object literal would turn a `__proto__` key into a prototype. */
  const postJson = <T>(path: string, json: string) => app.request<T>('POST', path, json, { 'content-type': 'application/json' });
  const batchCount = async (): Promise<number> => (await app.request<Page<BatchView>>('GET', '/v1/batches?limit=1000')).body.items.length;
  const csvForm = (csv: string, fields: Record<string, string>): FormData => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'rows.csv');
    return form;
  };
  const expectRefused = (name: string, response: { status: number; body: ErrorBody }, status: number, field: string): void => {
    expect([name, response.status]).toEqual([name, status]);
    expect([name, response.body.statusCode, Object.keys(response.body).sort()]).toEqual([
      name,
      status,
      ['details', 'error', 'message', 'statusCode'],
    ]);
    expect([name, response.body.details?.[0]?.field]).toEqual([name, field]);
    expect([name, typeof response.body.message, response.body.details?.[0]?.message]).toEqual([
      name,
      'string',
      expect.stringContaining(field.split(/[.[]/)[0]!),
    ]);
  };

  beforeAll(async () => {
    data = tempDir('flotilla-hostile-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    for (const workflow of [
      { id: 'plain', name: 'plain', inputs: [{ name: 'n' }], target: { url: target.url } },
      {
        id: 'keys',
        name: 'inputs named like Object.prototype properties',
        inputs: [{ name: 'n' }, { name: 'constructor', required: false }, { name: '__proto__', required: false }, { name: 'toString' }],
        target: { url: target.url },
      },
    ]) {
      expect((await app.request('POST', '/v1/workflows', workflow)).status).toBe(201);
    }
  });

  afterAll(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  describe('keys named constructor, __proto__ or toString, at any depth', () => {
    it('are plain data in inputs and metadata: the target receives every one of them, and no prototype is polluted', async () => {
      const inputs =
        '{"n":{"constructor":{"constructor":"deep","__proto__":{"polluted":"yes"}}},"constructor":"c","__proto__":{"polluted":"yes"},"toString":"t"}';
      const created = await postJson<{ id: string }>(
        '/v1/batches',
        `{"name":"keys","workflowId":"keys","maxConcurrent":10,"batchIntervalSeconds":0,"metadata":{"constructor":"bm","__proto__":"bp"},` +
          `"items":[{"inputs":${inputs},"metadata":{"toString":"im","constructor":"ic"}}]}`,
      );
      expect(created.status).toBe(201);
      const call = await eventually(
        async () => target.calls.find((candidate) => candidate.body.batchId === created.body.id),
        (found) => found !== undefined,
        10_000,
        'the target call',
      );
      // Re-serialised, the parsed body shows every key as sent, in order: own properties, not prototypes.
      expect(JSON.stringify(call!.body.inputs)).toBe(inputs);
      expect(JSON.stringify(call!.body.metadata)).toBe('{"constructor":"ic","__proto__":"bp","toString":"im"}');

      const [execution] = (await app.request<Page<ExecutionView>>('GET', `/v1/batches/${created.body.id}/executions`)).body.items;
      expect(JSON.stringify(execution!.inputs)).toBe(inputs);
      const batch = (await app.request<BatchView>('GET', `/v1/batches/${created.body.id}`)).body;
      expect(JSON.stringify(batch.metadata)).toBe('{"constructor":"bm","__proto__":"bp"}');

      // Later requests and responses show no stray property: nothing reached Object.prototype.
      const later = await app.request<{ id: string }>('POST', '/v1/batches', { ...base, items: [item] });
      expect(later.status).toBe(201);
      const [plain] = (await app.request<Page<ExecutionView>>('GET', `/v1/batches/${later.body.id}/executions`)).body.items;
      expect(JSON.stringify(plain!.inputs)).toBe('{"n":"x"}');
      expect(JSON.stringify(plain!.metadata)).toBe('{}');
      const refused = await app.request<ErrorBody>('POST', '/v1/batches', {});
      expect(Object.keys(refused.body).sort()).toEqual(['details', 'error', 'message', 'statusCode']);
      expect(JSON.stringify([later.body, refused.body, (await app.request('GET', '/v1/workflows/plain')).body])).not.toContain('polluted');
    });

    it('are data in CSV headers and mappings too', async () => {
      const created = await app.request<{ id: string }>(
        'POST',
        '/v1/batches',
        csvForm('n,constructor,__proto__,toString,ref\nx,c,p,t,r\n', {
          config: JSON.stringify({
            ...base,
            name: 'csv keys',
            workflowId: 'keys',
            mapping: { ref: { type: 'metadata', key: '__proto__' } },
          }),
        }),
      );
      expect(created.status).toBe(201);
      const [execution] = (await app.request<Page<ExecutionView>>('GET', `/v1/batches/${created.body.id}/executions`)).body.items;
      expect(JSON.stringify(execution!.inputs)).toBe('{"n":"x","constructor":"c","__proto__":"p","toString":"t"}');
      expect(JSON.stringify(execution!.metadata)).toBe('{"__proto__":"r"}');
    });

    it('are refused with 422 where the workflow has no such input, and a required one is not found on the prototype', async () => {
      const before = await batchCount();
      for (const key of ['constructor', '__proto__', 'toString']) {
        const response = await postJson<ErrorBody>(
          '/v1/batches',
          `{"name":"k","workflowId":"plain","maxConcurrent":1,"batchIntervalSeconds":0,"items":[{"inputs":{"n":"x","${key}":"v"}}]}`,
        );
        expectRefused(key, response, 422, `items[0].inputs.${key}`);
      }
      // `toString` is a required input of `keys`: an item without it must not find Object.prototype.toString.
      const missing = await app.request<ErrorBody>('POST', '/v1/batches', { ...base, workflowId: 'keys', items: [item] });
      expectRefused('missing toString', missing, 422, 'items[0].inputs.toString');
      expect(await batchCount()).toBe(before);
    });
  });

  it('answers null or an array where an object (or a value) belongs with 400 naming the field, and creates nothing', async () => {
    const before = await batchCount();
    const json: [string, string, string][] = [
      ['profilePool null', '"profilePool":null', 'profilePool'],
      ['metadata null', '"metadata":null', 'metadata'],
      ['metadata an array', '"metadata":[]', 'metadata'],
      ['startAt null', '"startAt":null', 'startAt'],
      ['defaultProfile null', '"defaultProfile":null', 'defaultProfile'],
      ['workflowVersion null', '"workflowVersion":null', 'workflowVersion'],
    ];
    for (const [name, field, expected] of json) {
      expectRefused(
        name,
        await postJson<ErrorBody>(
          '/v1/batches',
          `{"name":"n","workflowId":"plain","maxConcurrent":1,"batchIntervalSeconds":0,${field},"items":[{"inputs":{"n":"x"}}]}`,
        ),
        400,
        expected,
      );
    }
    const items: [string, unknown, string, string][] = [
      ['items [[]]', [[]], 'items', 'items[0] must be an object'],
      ['items [null]', [null], 'items', 'items[0] must be an object'],
      ['items [item, 5]', [item, 5], 'items', 'items[1] must be an object'],
      ['item metadata null', [{ ...item, metadata: null }], 'items[0].metadata', 'items[0].metadata must be an object'],
      ['item metadata an array', [{ ...item, metadata: [] }], 'items[0].metadata', 'items[0].metadata must be an object'],
      ['item inputs null', [{ inputs: null }], 'items[0].inputs', 'items[0].inputs must be an object'],
      ['item inputs an array', [{ inputs: [] }], 'items[0].inputs', 'items[0].inputs must be an object'],
      ['item profile null', [{ ...item, profile: null }], 'items[0].profile', 'items[0].profile must be a string'],
    ];
    for (const [name, value, field, message] of items) {
      const response = await app.request<ErrorBody>('POST', '/v1/batches', { ...base, items: value });
      expectRefused(name, response, 400, field);
      expect([name, response.body.message]).toEqual([name, message]);
    }

    const workflow = { id: 'never', name: 'w', inputs: [{ name: 'n' }], target: { url: target.url } };
    const workflows: [string, Record<string, unknown>, string, string][] = [
      ['inputs [[]]', { inputs: [[]] }, 'inputs', 'inputs[0] must be an object'],
      ['inputs [null]', { inputs: [null] }, 'inputs', 'inputs[0] must be an object'],
      ['inputs null', { inputs: null }, 'inputs', 'inputs must be an array'],
      ['target null', { target: null }, 'target', 'target must be an object'],
      ['retry null', { retry: null }, 'retry', 'retry must be an object'],
    ];
    for (const [name, overrides, field, message] of workflows) {
      const response = await app.request<ErrorBody>('POST', '/v1/workflows', { ...workflow, ...overrides });
      expectRefused(name, response, 400, field);
      expect([name, response.body.message]).toEqual([name, message]);
    }
    expect((await app.request('GET', '/v1/workflows/never')).status).toBe(404);

    const config = JSON.stringify(base);
    const csv: [string, string, Record<string, string>, string][] = [
      ['config null', '/v1/batches', { config: 'null' }, 'config'],
      ['config an array', '/v1/batches', { config: '[]' }, 'config'],
      ['config a string', '/v1/batches', { config: '"x"' }, 'config'],
      ['mapping {n: null}', '/v1/batches', { config: JSON.stringify({ ...base, mapping: { n: null } }) }, 'config.mapping.n'],
      ['mapping null', '/v1/batches', { config: JSON.stringify({ ...base, mapping: null }) }, 'config.mapping'],
      [
        'mapping type unknown',
        '/v1/batches',
        { config: JSON.stringify({ ...base, mapping: { n: { type: 'column' } } }) },
        'config.mapping.n.type',
      ],
      [
        'mapping field a number',
        '/v1/batches',
        { config: JSON.stringify({ ...base, mapping: { n: { type: 'input', field: 5 } } }) },
        'config.mapping.n.field',
      ],
      ['config profilePool null', '/v1/batches', { config: JSON.stringify({ ...base, profilePool: null }) }, 'config.profilePool'],
      ['preview mapping {n: null}', '/v1/batches/preview', { workflowId: 'plain', mapping: '{"n":null}' }, 'mapping.n'],
      ['preview mapping null', '/v1/batches/preview', { workflowId: 'plain', mapping: 'null' }, 'mapping'],
      ['preview mapping an array', '/v1/batches/preview', { workflowId: 'plain', mapping: '[1]' }, 'mapping'],
    ];
    for (const [name, path, fields, field] of csv)
      expectRefused(name, await app.request<ErrorBody>('POST', path, csvForm('n\nx\n', fields)), 400, field);
    // The same upload with a well-formed config is accepted: the refusals above are about the shapes alone.
    expect((await app.request('POST', '/v1/batches', csvForm('n\nx\n', { config }))).status).toBe(201);
    expect(await batchCount()).toBe(before + 1);
  });

  it('accepts only full RFC 3339 timestamps for startAt and executeAt, read as written', async () => {
    const before = await batchCount();
    for (const startAt of [
      '2026-W05',
      '20261201',
      '2026-032',
      '2026-12-01T10',
      '2026-12-01T10:00:00,5Z',
      '-9999-01-01',
      '+019999-01-01T00:00:00Z',
      '2026-12-01',
      '2026-12-01T10:00:00',
      '2026-12-01T10:00Z',
      '2026-02-30T10:00:00Z',
      '2026-12-01T24:00:00Z',
      '2026-12-01T10:00:00+25:00',
      ' 2026-12-01T10:00:00Z',
      'tomorrow',
    ]) {
      const response = await app.request<ErrorBody>('POST', '/v1/batches', { ...base, startAt, items: [item] });
      expectRefused(startAt, response, 400, 'startAt');
      expect([startAt, response.body.message]).toEqual([
        startAt,
        'startAt must be an RFC 3339 date-time with a time zone, like 2026-12-01T09:00:00Z',
      ]);
    }
    expect(await batchCount()).toBe(before);

    const accepted: [string, string][] = [
      ['2099-12-01T10:00:00Z', '2099-12-01T10:00:00.000Z'],
      ['2099-12-01T10:00:00.5Z', '2099-12-01T10:00:00.500Z'],
      ['2099-12-01T10:00:00.123+02:00', '2099-12-01T08:00:00.123Z'],
      ['2099-12-01t10:00:00z', '2099-12-01T10:00:00.000Z'],
      ['2028-02-29T00:00:00-05:30', '2028-02-29T05:30:00.000Z'],
    ];
    const ids: string[] = [];
    for (const [startAt, stored] of accepted) {
      const created = await app.request<{ id: string; status: string }>('POST', '/v1/batches', { ...base, startAt, items: [item, item] });
      expect([startAt, created.status, created.body.status]).toEqual([startAt, 201, 'pending']);
      expect((await app.request<BatchView>('GET', `/v1/batches/${created.body.id}`)).body.startAt).toBe(stored);
      ids.push(created.body.id);
    }

    const execution = `${ids[0]!}.1`;
    for (const executeAt of ['2026-W05', '2026-12-01T10', '-9999-01-01', null]) {
      expectRefused(
        String(executeAt),
        await app.request<ErrorBody>('POST', `/v1/executions/${execution}/reschedule`, { executeAt }),
        400,
        'executeAt',
      );
    }
    const moved = await app.request<ExecutionView>('POST', `/v1/executions/${execution}/reschedule`, {
      executeAt: '2099-12-02T00:00:00+01:00',
    });
    expect(moved).toMatchObject({ status: 200, body: { executeAt: '2099-12-01T23:00:00.000Z' } });
    expectRefused(
      'reason null',
      await app.request<ErrorBody>('POST', `/v1/executions/${execution}/cancel`, { reason: null }),
      400,
      'reason',
    );
  });

  it('bounds batchIntervalSeconds to 30 days and refuses a plan that would end past the year 9999', async () => {
    const before = await batchCount();
    for (const batchIntervalSeconds of [1e13, 1e300, 2_592_001]) {
      const response = await app.request<ErrorBody>('POST', '/v1/batches', {
        ...base,
        maxConcurrent: 1,
        batchIntervalSeconds,
        items: [item, item],
      });
      expectRefused(String(batchIntervalSeconds), response, 422, 'batchIntervalSeconds');
      expect(response.body.message).toBe('batchIntervalSeconds must be a number from 0 to 2592000 (30 days)');
    }
    // Four waves 30 days apart from 9999-11-01: the last one would be in January 10000.
    const late = await app.request<ErrorBody>('POST', '/v1/batches', {
      ...base,
      startAt: '9999-11-01T00:00:00Z',
      maxConcurrent: 1,
      batchIntervalSeconds: 2_592_000,
      items: [item, item, item, item],
    });
    expectRefused('plan past 9999', late, 422, 'batchIntervalSeconds');
    expect(late.body.message).toContain('the plan would end after the year 9999');
    expect(await batchCount()).toBe(before);

    const longest = await app.request<{ id: string }>('POST', '/v1/batches', {
      ...base,
      startAt: '9999-11-01T00:00:00Z',
      maxConcurrent: 1,
      batchIntervalSeconds: 2_592_000,
      items: [item, item],
    });
    expect(longest.status).toBe(201);
    expect((await app.request<BatchView>('GET', `/v1/batches/${longest.body.id}`)).body.estimatedCompletionAt).toBe(
      '9999-12-01T00:00:00.000Z',
    );
  });

  it('caps batch metadata at 16 KiB as JSON (UTF-8 bytes)', async () => {
    const before = await batchCount();
    // {"k":"…"} is 8 bytes plus the value; € is 3 bytes in UTF-8.
    const tooBig = await app.request<ErrorBody>('POST', '/v1/batches', { ...base, metadata: { k: '€'.repeat(5_460) }, items: [item] });
    expectRefused('16 KiB + 4', tooBig, 422, 'metadata');
    expect(tooBig.body.message).toBe('metadata must be at most 16384 bytes as JSON, not 16388');
    const huge = await app.request<ErrorBody>('POST', '/v1/batches', {
      ...base,
      metadata: { k: 'x'.repeat(4 * 1024 * 1024) },
      items: [item],
    });
    expectRefused('4 MiB', huge, 422, 'metadata');
    expect(await batchCount()).toBe(before);
    const fits = await app.request<{ id: string }>('POST', '/v1/batches', {
      ...base,
      metadata: { k: 'x'.repeat(16_384 - 8) },
      items: [item],
    });
    expect(fits.status).toBe(201);
  });

  it('refuses a cursor it did not hand out with 400 on every paged endpoint, and names the range of limit', async () => {
    for (let i = 0; i < 3; i++) expect((await app.request('POST', '/v1/batches', { ...base, items: [item, item, item] })).status).toBe(201);
    const webhook = await app.request<{ id: string }>('POST', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['batch.paused'],
      secret: 'a-long-secret',
    });
    expect(webhook.status).toBe(201);
    const first = await app.request<Page<BatchView>>('GET', '/v1/batches?limit=2');
    const batchId = first.body.items[0]!.id;

    // The cursors handed out work: each next page goes on where the last one ended.
    const second = await app.request<Page<BatchView>>('GET', `/v1/batches?limit=2&cursor=${first.body.nextCursor!}`);
    expect(second.status).toBe(200);
    expect(second.body.items.map((batch) => batch.id)).not.toContain(batchId);
    const executions = await app.request<Page<ExecutionView>>('GET', `/v1/batches/${batchId}/executions?limit=2`);
    const rest = await app.request<Page<ExecutionView>>(
      'GET',
      `/v1/batches/${batchId}/executions?limit=2&cursor=${executions.body.nextCursor!}`,
    );
    expect(rest.body.items.map((execution) => execution.index)).toEqual([2]);
    const history = await app.request<Page<{ position: string }>>('GET', `/v1/batches/${batchId}/history?limit=1`);
    const more = await app.request<Page<{ position: string }>>(
      'GET',
      `/v1/batches/${batchId}/history?limit=1&cursor=${history.body.nextCursor!}`,
    );
    expect(BigInt(more.body.items[0]!.position)).toBeGreaterThan(BigInt(history.body.items[0]!.position));

    const paths = [
      '/v1/batches',
      `/v1/batches/${batchId}/executions`,
      `/v1/batches/${batchId}/history`,
      `/v1/webhooks/${webhook.body.id}/deliveries`,
    ];
    // Random strings, the old cursor form (bare base64url of a position), a digit, and a real cursor edited.
    const bogus = [
      'zzzz',
      '!!!',
      Buffer.from('5').toString('base64url'),
      '5',
      `${first.body.nextCursor!}x`,
      first.body.nextCursor!.slice(1),
      '',
    ];
    for (const path of paths) {
      for (const cursor of bogus) {
        const response = await app.request<ErrorBody>('GET', `${path}?cursor=${encodeURIComponent(cursor)}`);
        expectRefused(`${path} cursor ${JSON.stringify(cursor)}`, response, 400, 'cursor');
      }
    }
    for (const path of paths.slice(0, 3)) {
      for (const limit of ['abc', '0', '1001', '1.5']) {
        const response = await app.request<ErrorBody>('GET', `${path}?limit=${limit}`);
        expectRefused(`${path} limit ${limit}`, response, 400, 'limit');
        expect(response.body.details).toEqual([
          { code: 'invalid_field', field: 'limit', message: 'limit must be an integer from 1 to 1000' },
        ]);
      }
    }
  });

  it('refuses malformed URLs and URLs with credentials, for webhooks and workflow targets alike', async () => {
    const hook = { events: ['batch.started'], secret: 'a-long-secret' };
    for (const url of [
      'http:/127.0.0.1',
      ' http://127.0.0.1/',
      'http://127.0.0.1/ ',
      'http:\\\\127.0.0.1',
      'http:///127.0.0.1',
      'http://127.0.0.1/\tx',
      'ftp://127.0.0.1/',
    ]) {
      const response = await app.request<ErrorBody>('POST', '/v1/webhooks', { ...hook, url });
      expectRefused(JSON.stringify(url), response, 422, 'url');
      expect(response.body.details![0]!.code).toBe('invalid_url');
    }
    for (const url of ['http://user:pw@127.0.0.1/', 'http://user@127.0.0.1/', 'http://@127.0.0.1/']) {
      const response = await app.request<ErrorBody>('POST', '/v1/webhooks', { ...hook, url });
      expectRefused(url, response, 422, 'url');
      expect(response.body.details![0]!.code).toBe('url_credentials');
      expect(JSON.stringify(response.body)).not.toContain('pw');
    }
    const targeted = await app.request<ErrorBody>('POST', '/v1/workflows', {
      id: 'creds',
      name: 'w',
      inputs: [],
      target: { url: 'http://user:pw@127.0.0.1:9/run' },
    });
    expectRefused('target with credentials', targeted, 422, 'target.url');
    expect((await app.request('GET', '/v1/workflows/creds')).status).toBe(404);

    expectRefused(
      'workflowId null',
      await app.request<ErrorBody>('POST', '/v1/webhooks', { ...hook, url: 'http://127.0.0.1:9/', workflowId: null }),
      400,
      'workflowId',
    );

    const good = await app.request<{ id: string; url: string }>('POST', '/v1/webhooks', {
      ...hook,
      url: 'http://127.0.0.1:9/hooks?team=a@b',
    });
    expect(good.status).toBe(201);
    expect((await app.request<{ url: string }>('GET', `/v1/webhooks/${good.body.id}`)).body.url).toBe('http://127.0.0.1:9/hooks?team=a@b');
  });

  it('answered every request above without a 500', () => {
    // The error filter logs every 5xx it answers, with the stack.
    expect(app.output.join('')).not.toMatch(/HttpErrorFilter|TypeError|RangeError/);
  });
});
