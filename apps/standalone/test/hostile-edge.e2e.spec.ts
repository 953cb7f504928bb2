import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { BatchView } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, sleep, tempDir } from '@flotilla/testing';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  details?: { code: string; field?: string; message: string }[];
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: ErrorBody;
}

const root = resolve(__dirname, '../../..');

/** The HTTP edge under hostile requests: uploads that break off, odd types and encodings, deep JSON, forged form posts. */
describe('the HTTP edge', () => {
  let data: ReturnType<typeof tempDir>;
  let tmp: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;

  beforeAll(async () => {
    data = tempDir('flotilla-edge-');
    // The child's own os.tmpdir(), so its upload folders can be counted.
    tmp = tempDir('flotilla-edge-tmp-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path, { TMPDIR: tmp.path });
    await app.start();
    const workflow = await app.request('POST', '/v1/workflows', {
      id: 'w',
      name: 'w',
      inputs: [{ name: 'n' }],
      target: { url: target.url },
    });
    expect(workflow.status).toBe(201);
  });

  afterAll(async () => {
    await app.kill();
    await target.stop();
    data.remove();
    tmp.remove();
  });

  const send = async (method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<Answer> => {
    const response = await fetch(`${app.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, body: (text ? JSON.parse(text) : null) as ErrorBody };
  };
  const json = (method: string, path: string, value: unknown, headers: Record<string, string> = {}) =>
    send(method, path, JSON.stringify(value), { 'content-type': 'application/json', ...headers });

  const uploadFolders = (): string[] => readdirSync(tmp.path).filter((name) => name.startsWith('flotilla-upload-'));
  const batchIds = async (): Promise<string[]> =>
    (await app.request<{ items: BatchView[] }>('GET', '/v1/batches?limit=200')).body.items.map((batch) => batch.id);
  const healthy = async (): Promise<void> => expect(await app.request('GET', '/health')).toEqual({ status: 200, body: { status: 'ok' } });
  // Neither a rejection the safety net caught nor a 500 the error filter logged.
  const nothingLoggedAsError = (): void => {
    expect(app.output.join('')).not.toContain('Unhandled promise rejection');
    expect(app.output.join('')).not.toMatch(/\bERROR\b/);
  };

  const multipart = (boundary = 'zzz') => ({ 'content-type': `multipart/form-data; boundary=${boundary}` });
  const config = { name: 'edge', workflowId: 'w', maxConcurrent: 5, batchIntervalSeconds: 0 };
  const filePart = (boundary = 'zzz') =>
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nContent-Type: text/csv\r\n\r\n`;
  const fieldPart = (name: string, value: string, boundary = 'zzz') =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const form = (parts: string[], boundary = 'zzz') => `${parts.join('')}--${boundary}--\r\n`;

  /**
   * An upload that goes away mid-body: a raw socket announces a large body, sends its start, waits
   * until the product is spooling the file part to a temporary file, and is destroyed.
   */
  const abortedUpload = async (path: string): Promise<void> => {
    const earlier = new Set(uploadFolders());
    const socket = connect(app.port, '127.0.0.1');
    await new Promise<void>((done, fail) => socket.once('connect', done).once('error', fail));
    socket.on('error', () => undefined);
    const start = fieldPart('config', JSON.stringify(config)) + fieldPart('workflowId', 'w') + filePart() + 'n\n' + 'x\n'.repeat(20_000);
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=zzz\r\nContent-Length: 10000000\r\n\r\n${start}`,
    );
    const spooled = (folder: string): boolean => {
      try {
        return readdirSync(join(tmp.path, folder)).includes('upload.csv');
      } catch {
        return false;
      }
    };
    await eventually(
      async () => uploadFolders(),
      (folders) => folders.some((folder) => !earlier.has(folder) && spooled(folder)),
      10_000,
      'the file part to be spooled',
    );
    socket.destroy();
  };

  it('survives uploads that end before their closing boundary or break off mid-body, and leaves nothing behind', async () => {
    for (let round = 0; round < 5; round++) {
      for (const path of ['/v1/batches', '/v1/batches/preview']) {
        // The reproduction: the file part starts and the body ends, with no closing boundary.
        const truncated = await send('POST', path, `${filePart()}n\nx\n`, multipart());
        expect([path, truncated.status, truncated.body]).toEqual([
          path,
          400,
          expect.objectContaining({
            statusCode: 400,
            error: 'Bad Request',
            message: expect.stringContaining('ends before its closing boundary'),
          }),
        ]);
        // The same with the config first and the file part cut in the middle of its header.
        const cut = await send(
          'POST',
          path,
          fieldPart('config', JSON.stringify(config)) + fieldPart('workflowId', 'w') + '--zzz\r\nContent-Disposition: form-da',
          multipart(),
        );
        expect([path, cut.status]).toEqual([path, 400]);
        expect(cut.body.message).toMatch(/^The multipart body is malformed/);
        await abortedUpload(path);
      }
    }
    // Folders of aborted uploads go once the product has seen the socket close.
    await eventually(
      async () => uploadFolders(),
      (folders) => folders.length === 0,
      10_000,
      'upload folders to be removed',
    );
    await healthy();
    expect(await batchIds()).toEqual([]);
    nothingLoggedAsError();
    // And a well-formed upload still goes through, leaving no folder either.
    const created = await send(
      'POST',
      '/v1/batches',
      form([fieldPart('config', JSON.stringify(config)), filePart(), 'n\na\nb\n\r\n']),
      multipart(),
    );
    expect(created).toMatchObject({ status: 201, body: { total: 2 } });
    expect(uploadFolders()).toEqual([]);
  });

  it('answers 400 with a message to a multipart body with no boundary or the wrong one', async () => {
    const before = await batchIds();
    const body = form([fieldPart('config', JSON.stringify(config)), filePart(), 'n\na\n\r\n']);
    const noBoundary = await send('POST', '/v1/batches', body, { 'content-type': 'multipart/form-data' });
    expect(noBoundary).toMatchObject({
      status: 400,
      body: { statusCode: 400, message: 'The multipart Content-Type is invalid: Multipart: Boundary not found' },
    });
    const wrongBoundary = await send('POST', '/v1/batches', body, multipart('yyy'));
    expect(wrongBoundary).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining('is the boundary in Content-Type the one the body uses?') },
    });
    const preview = await send('POST', '/v1/batches/preview', body, multipart('yyy'));
    expect(preview.status).toBe(400);
    expect(await batchIds()).toEqual(before);
    expect(uploadFolders()).toEqual([]);
  });

  it('refuses unknown content encodings with 415, bodies that do not inflate with 400, and bombs with 413', async () => {
    const before = await batchIds();
    const valid = JSON.stringify({ ...config, items: [{ inputs: { n: 'x' } }] });
    const foo = await send('POST', '/v1/batches', valid, { 'content-type': 'application/json', 'content-encoding': 'foo' });
    expect(foo).toMatchObject({
      status: 415,
      body: { statusCode: 415, error: 'Unsupported Media Type', message: expect.stringContaining('Content-Encoding foo is not supported') },
    });
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const fake = await send('POST', '/v1/batches', valid, { 'content-type': 'application/json', 'content-encoding': encoding });
      expect([encoding, fake.status, fake.body.message]).toEqual([
        encoding,
        400,
        `The request body is not valid ${encoding} data (Content-Encoding)`,
      ]);
    }
    // Real compressed bodies are read: an unknown batch answers 404, past the body parser.
    const compressors: Record<string, (input: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
    for (const [encoding, compress] of Object.entries(compressors)) {
      const real = await send('POST', '/v1/batches/bat_none/pause', compress(Buffer.from('{"reason":"r"}')), {
        'content-type': 'application/json',
        'content-encoding': encoding,
      });
      expect([encoding, real.status]).toEqual([encoding, 404]);
    }
    // 60 MB of spaces inflate past the 50 MB limit from about 60 KB on the wire.
    const bomb = gzipSync(Buffer.alloc(60 * 1024 * 1024, ' '));
    expect(bomb.length).toBeLessThan(200_000);
    const bombed = await send('POST', '/v1/batches', bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(bombed).toMatchObject({ status: 413, body: { statusCode: 413, error: 'Payload Too Large' } });
    // Multipart is never inflated: refused with a message saying so.
    const upload = form([fieldPart('config', JSON.stringify(config)), filePart(), 'n\na\n\r\n']);
    const zipped = await send('POST', '/v1/batches', gzipSync(Buffer.from(upload)), { ...multipart(), 'content-encoding': 'gzip' });
    expect(zipped).toMatchObject({
      status: 415,
      body: { message: 'A multipart upload cannot be compressed (Content-Encoding: gzip); send the form uncompressed' },
    });
    expect(await batchIds()).toEqual(before);
    await healthy();
  });

  it('refuses a form with more than 20 fields, or more than one file, naming the limit', async () => {
    const before = await batchIds();
    const extra = Array.from({ length: 21 }, (_, index) => fieldPart(`extra${index}`, 'x'));
    // `config` comes last: today it was dropped silently and the answer was "config is required".
    const many = await send(
      'POST',
      '/v1/batches',
      form([...extra, filePart(), 'n\na\n\r\n', fieldPart('config', JSON.stringify(config))]),
      multipart(),
    );
    expect(many).toMatchObject({
      status: 413,
      body: { statusCode: 413, message: 'The form has more than 20 fields; at most 20 are accepted' },
    });
    const twoFiles = await send(
      'POST',
      '/v1/batches',
      form([fieldPart('config', JSON.stringify(config)), filePart(), 'n\na\n\r\n', filePart(), 'n\nb\n\r\n']),
      multipart(),
    );
    expect(twoFiles).toMatchObject({
      status: 413,
      body: { message: 'The form has more than one file; send the CSV as its one "file" part' },
    });
    const previewMany = await send(
      'POST',
      '/v1/batches/preview',
      form([...extra, fieldPart('workflowId', 'w'), filePart(), 'n\na\n\r\n']),
      multipart(),
    );
    expect(previewMany.status).toBe(413);
    // Twenty fields are fine.
    const twenty = await send(
      'POST',
      '/v1/batches/preview',
      form([...extra.slice(0, 19), fieldPart('workflowId', 'w'), filePart(), 'n\na\n\r\n']),
      multipart(),
    );
    expect(twenty.status).toBe(200);
    expect(await batchIds()).toEqual(before);
    expect(uploadFolders()).toEqual([]);
  });

  it('refuses JSON nested deeper than 64 levels, in a body or a form field, before walking it', async () => {
    const before = await batchIds();
    const deep = (levels: number, open = '[', close = ']', inner = '1') => open.repeat(levels) + inner + close.repeat(levels);
    const message = 'The request body is nested deeper than 64 levels of arrays and objects';
    for (const body of [
      deep(10_000),
      deep(100_000, '{"a":', '}'),
      `{"name":"x","workflowId":"w","maxConcurrent":1,"batchIntervalSeconds":0,"items":[{"inputs":{"n":${deep(10_000)}}}]}`,
    ]) {
      const refused = await send('POST', '/v1/batches', body, { 'content-type': 'application/json' });
      expect(refused).toMatchObject({
        status: 400,
        body: { statusCode: 400, message, details: [{ code: 'too_deep', field: 'body', message }] },
      });
    }
    // Brackets inside strings are text, not nesting; escaped quotes do not end a string. The unknown
    // workflow's 404 shows the body got past the depth check.
    const inString = await json('POST', '/v1/batches', {
      ...config,
      workflowId: 'ghost',
      name: `a\\"${'['.repeat(100)}\\`,
      items: [{ inputs: { n: 'x' } }],
    });
    expect(inString).toMatchObject({ status: 404, body: { message: expect.stringContaining('ghost') } });
    const deepConfig = await send(
      'POST',
      '/v1/batches',
      form([fieldPart('config', `{"name":${deep(10_000)}}`), filePart(), 'n\na\n\r\n']),
      multipart(),
    );
    expect(deepConfig).toMatchObject({
      status: 400,
      body: { message: 'config is nested deeper than 64 levels of arrays and objects', details: [{ code: 'too_deep', field: 'config' }] },
    });
    const deepMapping = await send(
      'POST',
      '/v1/batches/preview',
      form([fieldPart('workflowId', 'w'), fieldPart('mapping', `{"n":${deep(10_000, '{"a":', '}')}}`), filePart(), 'n\na\n\r\n']),
      multipart(),
    );
    expect(deepMapping).toMatchObject({ status: 400, body: { message: 'mapping is nested deeper than 64 levels of arrays and objects' } });
    // 64 levels are read (body, items, item, inputs and 60 arrays): refused for the unknown workflow, not the depth.
    const atLimit = `{"name":"x","workflowId":"ghost","maxConcurrent":1,"batchIntervalSeconds":0,"items":[{"inputs":{"n":${deep(60)}}}]}`;
    expect(await send('POST', '/v1/batches', atLimit, { 'content-type': 'application/json' })).toMatchObject({ status: 404 });
    const overLimit = atLimit.replace(deep(60), deep(61));
    expect(await send('POST', '/v1/batches', overLimit, { 'content-type': 'application/json' })).toMatchObject({
      status: 400,
      body: { message },
    });
    await healthy();
    expect(await batchIds()).toEqual(before);
  });

  it('accepts a mutation only as JSON (or multipart on the CSV routes); anything else gets 415', async () => {
    // Running, its second wave an hour away: every operator action applies.
    const created = await json('POST', '/v1/batches', {
      ...config,
      maxConcurrent: 1,
      batchIntervalSeconds: 3600,
      items: [{ inputs: { n: 'x' } }, { inputs: { n: 'y' } }],
    });
    expect(created.status).toBe(201);
    const id = (created.body as unknown as { id: string }).id;
    const batch = async () => (await app.request<BatchView>('GET', `/v1/batches/${id}`)).body;
    await eventually(batch, (view) => view.status === 'running' && view.progress.triggered === 1, 10_000, 'the first wave');
    const forged: [string, string | undefined, Record<string, string>][] = [
      ['no body', undefined, {}],
      ['text/plain', '{"reason":"csrf"}', { 'content-type': 'text/plain' }],
      ['a urlencoded form', 'reason=csrf', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['a multipart form', form([fieldPart('reason', 'csrf')]), multipart()],
      ['a JSON look-alike', '{"reason":"csrf"}', { 'content-type': 'application/jsonp' }],
    ];
    for (const path of [
      `/v1/batches/${id}/pause`,
      `/v1/batches/${id}/resume`,
      `/v1/batches/${id}/cancel`,
      `/v1/executions/${id}.1/cancel`,
      `/v1/executions/${id}.1/reschedule`,
      '/v1/workflows',
      '/v1/webhooks',
    ]) {
      for (const [what, body, headers] of forged) {
        const refused = await send('POST', path, body, headers);
        expect([path, what, refused.status]).toEqual([path, what, 415]);
        expect(refused.body).toMatchObject({
          statusCode: 415,
          error: 'Unsupported Media Type',
          message: expect.stringContaining(`POST ${path} needs Content-Type application/json`),
        });
      }
    }
    const view = await batch();
    expect(view.status).toBe('running');
    expect(view.progress).toMatchObject({ total: 2, pending: 1, cancelled: 0 });
    expect(
      (await app.request<{ items: { type: string }[] }>('GET', `/v1/batches/${id}/history`)).body.items.map((entry) => entry.type),
    ).not.toContain('BatchPaused');
    // The CSV routes also take multipart, and say so.
    const textCsv = await send('POST', '/v1/batches', 'n\na\n', { 'content-type': 'text/csv' });
    expect(textCsv).toMatchObject({
      status: 415,
      body: { message: 'POST /v1/batches needs Content-Type application/json or multipart/form-data; got text/csv' },
    });
    // With a JSON body, charset and case aside, the same calls go through.
    const paused = await send('POST', `/v1/batches/${id}/pause`, '{}', { 'content-type': 'Application/JSON; charset=utf-8' });
    expect(paused).toMatchObject({ status: 200, body: { status: 'paused' } });
    expect((await json('POST', `/v1/batches/${id}/cancel`, { reason: 'done' })).body).toMatchObject({ status: 'cancelled' });
    // (A resume would re-plan the second execution for now; after the cancel, the state machine is what answers.)
    expect((await json('POST', `/v1/batches/${id}/resume`, {})).body).toMatchObject({
      statusCode: 409,
      message: expect.stringContaining('it is cancelled'),
    });
    // Reads need no body.
    expect((await send('GET', `/v1/batches/${id}`)).status).toBe(200);
  });

  it('never names the framework, and no error carries a stack trace', async () => {
    const answers = [
      await send('GET', '/health'),
      await send('GET', '/v1/batches/bat_nope'),
      await send('GET', '/nowhere'),
      await send('POST', '/v1/batches', '{"name": ', { 'content-type': 'application/json' }),
      await send('POST', '/v1/batches/bat_nope/pause', 'x', { 'content-type': 'text/plain' }),
      await send('POST', '/v1/batches', `${filePart()}n\n`, multipart()),
      await send('POST', '/v1/batches', '[]'.repeat(10) + '['.repeat(100), { 'content-type': 'application/json' }),
      await send('POST', '/v1/batches', '{}', { 'content-type': 'application/json', 'content-encoding': 'gzip' }),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 404, 404, 400, 415, 400, 400, 400]);
    for (const answer of answers) {
      expect(answer.headers.get('x-powered-by')).toBeNull();
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(answer.text).not.toMatch(/\bat .+:\d+:\d+|node_modules|\/src\//);
      if (answer.status >= 400) expect(Object.keys(answer.body).sort()).toEqual(expect.arrayContaining(['error', 'message', 'statusCode']));
      if (answer.status >= 400)
        expect(Object.keys(answer.body).filter((key) => !['statusCode', 'error', 'message', 'details'].includes(key))).toEqual([]);
    }
    nothingLoggedAsError();
  });
});

describe('the process safety net of a service', () => {
  /** A child that installs the handler runService installs, then fails both ways. */
  const run = async (): Promise<{ code: number | null; output: string }> => {
    const script = `
      const { installSafetyNet } = require('@flotilla/platform');
      installSafetyNet();
      Promise.reject(new Error('a promise nobody awaited'));
      setTimeout(() => {
        console.log('still serving after the rejection');
        setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
        setTimeout(() => console.log('never printed: the process has exited'), 2000);
      }, 200);
    `;
    const child = spawn(process.execPath, ['-r', './scripts/swc-register.cjs', '-e', script], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    await sleep(50);
    return { code, output: chunks.join('') };
  };

  it('logs an unhandled rejection with its stack and keeps running; logs an uncaught exception and exits 1', async () => {
    const { code, output } = await run();
    expect(output).toContain('Unhandled promise rejection; the service keeps running: Error: a promise nobody awaited');
    // The stack follows the message.
    expect(output).toMatch(/a promise nobody awaited\n\s+at /);
    expect(output).toContain('still serving after the rejection');
    expect(output).toContain('Uncaught exception; exiting so that a supervisor restarts the service: Error: thrown from a timer');
    expect(output).not.toContain('never printed');
    expect(code).toBe(1);
  });
});
