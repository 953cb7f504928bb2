import fc from 'fast-check';
import { readdirSync } from 'node:fs';
import { PlatformProcess, TargetServer, eventually, freePort, sleep, startWebhookReceiver, tempDir } from '@flotilla/testing';
import { CaseGen, Pool, send, type Case, type OpenApiDoc, type WireRequest, type WireResponse } from './fuzz-requests';

/**
 * Fuzz suite over the OpenAPI description (issue 7): a few hundred generated requests against the
 * real process, for every operation, plus the hostile families. It asserts that no request gets a
 * 5xx or kills the process, that the process is healthy afterwards, and that the batches listed at
 * the end are exactly those the 201 answers named. It keeps going after a failure (restarting the
 * process if it died) so that one run reports every distinct failure.
 *
 * FUZZ_RUNS (cases), FUZZ_SEED (replay a run), FUZZ_TIME_MS (time for the cases; stops early when spent).
 */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 7_2026);
const BUDGET_MS = Number(process.env['FUZZ_TIME_MS'] ?? 100_000);

interface Seen {
  readonly request: WireRequest;
  readonly response: WireResponse;
  readonly output: string;
}

interface Failure {
  readonly kind: '5xx' | 'crash' | 'hang' | 'no answer' | 'error after abort';
  readonly cause: string;
  readonly endpoint: string;
  readonly status: number | null;
  readonly families: Set<string>;
  count: number;
  readonly example: Seen;
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, '');

/** Where an error was thrown: the first stack frame in the project's code, else the first frame. */
const frameOf = (output: string, from: number): string => {
  // A stack overflow is thrown wherever the stack happens to run out: its frame tells nothing.
  if (/Maximum call stack size exceeded/.test(output.slice(from, from + 300))) return '';
  const frames = output
    .slice(from)
    .split('\n')
    .slice(1, 40)
    .filter((line) => /^\s+at /.test(line));
  const own = frames.find((line) => /\/(libs|apps)\//.test(line) && !line.includes('node_modules'));
  const frame = (own ?? frames[0])?.trim().replace(/^at /, '');
  return frame === undefined ? '' : ` @ ${frame.replace(/\(?\/[^()]*\/(libs|apps|node_modules)\//, '($1/').replace(/:\d+\)?$/, ')')}`;
};

/** The product's error-level log lines: pino JSON, `"level":"ERROR"` (libs/platform/src/logging.ts). */
const ERROR_LINES = /^\{.*"level":"ERROR".*$/gm;

/**
 * The first error the product logged, its message and stack: the line of the code that failed is
 * preferred to pino-http's line for the 5xx answer (which carries the request, `req`), which it
 * falls back to.
 */
const loggedError = (output: string): { message: string; stack?: string } | undefined => {
  const lines = [...output.matchAll(ERROR_LINES)].map((match): Record<string, unknown> => {
    try {
      return JSON.parse(match[0]) as Record<string, unknown>;
    } catch {
      return { msg: match[0].slice(0, 200) };
    }
  });
  const line = lines.find((entry) => entry['req'] === undefined) ?? lines[0];
  if (line === undefined) return undefined;
  const err = line['err'] as { message?: string; stack?: string } | undefined;
  const text = String(line['msg'] ?? err?.message ?? '').trim();
  // HttpErrorFilter logs a 500's stack as the message itself: its first line is the message.
  const stack = typeof line['stack'] === 'string' ? line['stack'] : (err?.stack ?? (text.includes('\n') ? text : undefined));
  const message = text.split('\n')[0] ?? '';
  return stack === undefined ? { message } : { message, stack };
};

/** The server's own words for a failure: the logged error of a 5xx, the fatal error of a crash, and where it was thrown. */
const causeOf = (output: string, response: WireResponse): string => {
  const logged = loggedError(output);
  if (logged !== undefined) return logged.message + (logged.stack === undefined ? '' : frameOf(logged.stack, 0));
  const fatal = /^\s*(?:Uncaught |Unhandled )?(?:[A-Za-z]*Error|Error)(?: \[[A-Z_]+\])?: .+$/m.exec(output);
  if (fatal) return fatal[0].trim() + frameOf(output, fatal.index);
  if (response.error?.startsWith('no answer within') === true) return response.error;
  const lines = output.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('Node.js v'));
  return lines.at(-1)?.trim().slice(0, 200) ?? response.error ?? '(no server output)';
};

/** Grouping key of a cause: ids, numbers and long tokens do not make a failure distinct. */
const normalise = (cause: string): string =>
  cause
    .replace(/\b[0-9A-Za-z_]*\d[0-9A-Za-z_]{6,}\b/g, '<id>')
    .replace(/\b\d+\b/g, 'N')
    .slice(0, 240);

const printable = (bytes: Buffer): string =>
  bytes.toString('latin1').replace(/[^\x20-\x7e]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : '.'));

/** Head and tail of a body: the end matters for truncated uploads. */
const excerpt = (bytes: Buffer | undefined, head = 300, tail = 160): string => {
  if (bytes === undefined) return '(none)';
  if (bytes.length <= head + tail) return printable(bytes);
  return `${printable(bytes.subarray(0, head))} … ${printable(bytes.subarray(bytes.length - tail))} (${bytes.length} bytes)`;
};

/** The last lines of the server's output, with runs of one repeated line (deep recursion) folded. */
const tailOf = (output: string, lines = 25): string => {
  const folded: string[] = [];
  let previous = '';
  let repeats = 0;
  for (const line of output.split('\n')) {
    if (line === previous) {
      repeats++;
      continue;
    }
    if (repeats > 0) folded.push(`      … the line above ${repeats} more time(s)`);
    folded.push(line);
    previous = line;
    repeats = 0;
  }
  if (repeats > 0) folded.push(`      … the line above ${repeats} more time(s)`);
  return folded
    .slice(-lines)
    .map((line) => `    | ${line}`)
    .join('\n');
};

const describeRequest = (request: WireRequest): string =>
  [
    `    ${request.method} ${request.path.length > 300 ? `${request.path.slice(0, 300)}… (${request.path.length} chars)` : request.path}`,
    `    headers: ${JSON.stringify(Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, v.length > 120 ? `${v.slice(0, 120)}… (${v.length})` : v])))}`,
    `    body: ${excerpt(request.body)}`,
    ...(request.note === undefined ? [] : [`    note: ${request.note}`]),
    ...(request.delivery === 'abort'
      ? [`    delivery: headers announce ${request.body?.length ?? 0} bytes, ${request.abortAfter} sent, then the socket is destroyed`]
      : []),
  ].join('\n');

const isErrorShape = (body: string): boolean => {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    return typeof parsed['statusCode'] === 'number' && typeof parsed['error'] === 'string' && typeof parsed['message'] === 'string';
  } catch {
    return false;
  }
};

describe('API fuzz suite (OpenAPI-driven, hostile families)', () => {
  let data: ReturnType<typeof tempDir>;
  /** The process's TMPDIR: upload spools land here, so leftovers can be counted. */
  let tmp: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let doc: OpenApiDoc;
  const pool = new Pool();
  /** Ids of the batches that a 201 answer named: the only batches that may exist. */
  const created = new Set<string>();
  const failures = new Map<string, Failure>();
  const statuses = new Map<string, Map<string, number>>();
  const familyStatuses = new Map<string, Map<string, number>>();
  const offShape = new Map<string, string>();
  let tried = 0;
  let restarts = 0;

  const healthy = async (): Promise<boolean> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if ((await fetch(`${app.url}/health`, { signal: AbortSignal.timeout(3000) })).ok) return true;
      } catch {
        // not answering (yet): probe again
      }
      await sleep(250);
    }
    return false;
  };

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const response = await app.request(method, path, body);
    pool.harvest(response.body);
    if (method === 'POST' && path === '/v1/batches' && response.status === 201) created.add((response.body as { id: string }).id);
    return response;
  };

  beforeAll(async () => {
    data = tempDir('flotilla-fuzz-');
    tmp = tempDir('flotilla-fuzz-tmp-');
    target = new TargetServer();
    await target.start();
    receiver = await startWebhookReceiver();
    app = new PlatformProcess(await freePort(), data.path, { NO_COLOR: '1', TMPDIR: tmp.path });
    await app.start();
    // A sync and an async workflow, a second version, a webhook, and batches in every state, so
    // that valid-looking requests reach deep code (pause, reschedule, callbacks, history...).
    const inputs = [{ name: 'email' }, { name: 'name', required: false }];
    expect((await call('POST', '/v1/workflows', { id: 'fz-sync', name: 'Fuzz sync', inputs, target: { url: target.url } })).status).toBe(
      201,
    );
    expect(
      (
        await call('POST', '/v1/workflows', {
          id: 'fz-async',
          name: 'Fuzz async',
          inputs,
          target: { url: target.url, mode: 'async', timeoutMs: 5000, callbackTimeoutMs: 3_600_000 },
        })
      ).status,
    ).toBe(201);
    expect(
      (await call('POST', '/v1/workflows/fz-sync/versions', { name: 'Fuzz sync v2', inputs, target: { url: target.url } })).status,
    ).toBe(201);
    const events = [
      'batch.started',
      'batch.paused',
      'batch.resumed',
      'batch.cancelled',
      'batch.completed',
      'execution.completed',
      'execution.failed',
    ];
    expect((await call('POST', '/v1/webhooks', { url: receiver.url, events, secret: 'fuzz-secret-0001' })).status).toBe(201);
    const items = (count: number) =>
      Array.from({ length: count }, (_, i) => ({ inputs: { email: `u${i}@x.io`, name: `U${i}` }, metadata: { row: String(i) } }));
    const batch = async (workflowId: string, extra: Record<string, unknown>, count: number): Promise<string> => {
      const response = await call('POST', '/v1/batches', {
        name: `setup ${workflowId}`,
        workflowId,
        maxConcurrent: 1,
        batchIntervalSeconds: 1,
        items: items(count),
        ...extra,
      });
      expect(response.status).toBe(201);
      return (response.body as { id: string }).id;
    };
    await batch('fz-sync', {}, 3);
    await batch('fz-sync', { startAt: '2030-01-01T00:00:00Z' }, 5);
    const paused = await batch('fz-sync', { batchIntervalSeconds: 3600 }, 4);
    expect((await call('POST', `/v1/batches/${paused}/pause`, { reason: 'fuzz setup' })).status).toBe(200);
    const cancelled = await batch('fz-sync', { startAt: '2030-01-01T00:00:00Z' }, 2);
    expect((await call('POST', `/v1/batches/${cancelled}/cancel`, {})).status).toBe(200);
    const async = await batch('fz-async', { batchIntervalSeconds: 0, maxConcurrent: 10 }, 3);
    for (const id of pool.batches) await call('GET', `/v1/batches/${id}/executions?limit=2`);
    await call('GET', '/v1/batches?limit=2');
    await call('GET', `/v1/batches/${async}/history?limit=2`);
    doc = (await app.request<OpenApiDoc>('GET', '/docs-json')).body;
  }, 60_000);

  afterAll(async () => {
    await app?.kill();
    await target?.stop();
    await receiver?.stop();
    data?.remove();
    tmp?.remove();
  });

  const count = (table: Map<string, Map<string, number>>, name: string, status: string): void => {
    const row = table.get(name) ?? new Map<string, number>();
    row.set(status, (row.get(status) ?? 0) + 1);
    table.set(name, row);
  };

  const record = (kind: Failure['kind'], fuzzCase: Case, seen: Seen): void => {
    const cause = causeOf(seen.output, seen.response);
    const key = `${kind} ${fuzzCase.endpoint} ${seen.response.status} ${normalise(cause)}`;
    const known = failures.get(key);
    if (known) {
      known.count++;
      known.families.add(fuzzCase.family);
      return;
    }
    failures.set(key, {
      kind,
      cause,
      endpoint: fuzzCase.endpoint,
      status: seen.response.status,
      families: new Set([fuzzCase.family]),
      count: 1,
      example: seen,
    });
  };

  const runCase = async (fuzzCase: Case): Promise<void> => {
    const request = fuzzCase.build(pool);
    const mark = app.output.length;
    const response = await send(app.port, request);
    const status = response.status === null ? (request.delivery === 'abort' ? 'aborted' : 'no answer') : String(response.status);
    count(statuses, fuzzCase.endpoint, status);
    count(familyStatuses, fuzzCase.family, status);
    if (response.status !== null && response.status < 300) {
      try {
        const body = JSON.parse(response.body) as unknown;
        pool.harvest(body);
        if (request.method === 'POST' && fuzzCase.endpoint === 'POST /v1/batches' && response.status === 201)
          created.add((body as { id: string }).id);
      } catch {
        // not JSON: nothing to harvest
      }
    }
    if (response.status !== null && response.status >= 400 && response.status < 500 && !isErrorShape(response.body)) {
      offShape.set(`${fuzzCase.endpoint} ${response.status}`, `${describeRequest(request)}\n    answer: ${response.body.slice(0, 200)}`);
    }
    // A crash can come after the answer (or with no answer at all): ask /health every time.
    if (request.delivery === 'abort') await sleep(150);
    const alive = await healthy();
    const output = stripAnsi(app.output.slice(mark).join(''));
    const seen = { request, response, output };
    if (!alive) {
      // No answer in time and /health silent too: the event loop is blocked (or the process gone).
      const hung = response.error?.startsWith('no answer within') === true;
      record(
        hung ? 'hang' : 'crash',
        fuzzCase,
        hung ? { ...seen, output: `${output}\n(/health did not answer either: the process was killed and restarted)` } : seen,
      );
      restarts++;
      await app.kill();
      await app.start();
    } else if (response.status !== null && response.status >= 500) record('5xx', fuzzCase, seen);
    else if (response.status === null && request.delivery === 'normal') record('no answer', fuzzCase, seen);
    // The client is gone, so nobody sees a 500; the log still shows one.
    else if (request.delivery === 'abort' && loggedError(output) !== undefined) record('error after abort', fuzzCase, seen);
  };

  it(
    'answers every generated request without a 5xx, and nothing takes the process down',
    async () => {
      const cases = fc.sample(
        new CaseGen(doc, {
          workflowIds: ['fz-sync', 'fz-async'],
          inputNames: ['email', 'name'],
          targetUrl: target.url,
          receiverUrl: receiver.url,
        }).cases(),
        { seed: SEED, numRuns: RUNS },
      );
      const deadline = Date.now() + BUDGET_MS;
      const started = Date.now();
      for (const fuzzCase of cases) {
        if (Date.now() > deadline) break;
        await runCase(fuzzCase);
        tried++;
      }
      const columns = [...new Set([...statuses.values()].flatMap((row) => [...row.keys()]))].sort();
      const width = Math.max(...[...statuses.keys()].map((endpoint) => endpoint.length));
      const table = [
        `${'endpoint'.padEnd(width)} ${columns.map((column) => column.padStart(10)).join('')}`,
        ...[...statuses.entries()]
          .sort()
          .map(
            ([endpoint, row]) =>
              `${endpoint.padEnd(width)} ${columns.map((column) => String(row.get(column) ?? '').padStart(10)).join('')}`,
          ),
      ];
      const totals = columns.map((column) => `${column}: ${[...statuses.values()].reduce((sum, row) => sum + (row.get(column) ?? 0), 0)}`);
      const stoppedEarly =
        tried < cases.length
          ? `\nSTOPPED EARLY: the time budget (FUZZ_TIME_MS=${BUDGET_MS}) ran out after ${tried} of ${cases.length} cases.`
          : '';
      console.log(
        `fuzz: seed ${SEED} (FUZZ_SEED=${SEED} to replay), ${tried} of ${cases.length} cases tried in ${Math.round((Date.now() - started) / 1000)} s, ${restarts} restart(s) after a crash or hang${stoppedEarly}\n` +
          `by family: ${[...familyStatuses.entries()]
            .sort()
            .map(
              ([family, row]) =>
                `${family} (${[...row.entries()]
                  .sort()
                  .map(([code, n]) => `${code}: ${n}`)
                  .join(', ')})`,
            )
            .join('; ')}\n` +
          `status codes: ${totals.join(', ')}\n${table.join('\n')}` +
          (offShape.size === 0
            ? ''
            : `\n\n4xx answers not in the API error shape (not failed on, for information):\n${[...offShape.entries()].map(([key, text]) => `  ${key}\n${text}`).join('\n')}`),
      );
      const report = [...failures.values()]
        .sort((a, b) => a.cause.localeCompare(b.cause) || a.endpoint.localeCompare(b.endpoint))
        .map((failure, i) =>
          [
            `#${i + 1} ${failure.kind.toUpperCase()} ${failure.endpoint} → ${failure.status ?? failure.example.response.error ?? 'no answer'} (${failure.count}×; families: ${[...failure.families].join(', ')})`,
            `  cause: ${failure.cause}`,
            `  request:\n${describeRequest(failure.example.request)}`,
            `  response: ${failure.example.response.status ?? '-'} ${failure.example.response.body.slice(0, 300) || failure.example.response.error || ''}`,
            `  server output (tail):\n${tailOf(failure.example.output)}`,
          ].join('\n'),
        );
      const byCause = new Map<string, string[]>();
      for (const failure of failures.values()) {
        const cause = `${failure.kind}: ${normalise(failure.cause)}`;
        byCause.set(cause, [...(byCause.get(cause) ?? []), `${failure.endpoint} → ${failure.status ?? 'no answer'} ×${failure.count}`]);
      }
      const overview = [...byCause.entries()]
        .sort()
        .map(([cause, where]) => `  ${cause}\n${where.map((line) => `      ${line}`).join('\n')}`);
      if (report.length > 0) {
        console.log(
          `fuzz: ${failures.size} distinct failure(s), ${[...failures.values()].reduce((sum, failure) => sum + failure.count, 0)} failing case(s), ${byCause.size} cause(s):\n${overview.join('\n')}\n\n${report.join('\n\n')}`,
        );
      }
      expect(tried).toBeGreaterThan(0);
      expect([...failures.keys()]).toEqual([]);
    },
    BUDGET_MS + 90_000,
  );

  it('is still healthy afterwards', async () => {
    expect(await healthy()).toBe(true);
    expect((await app.request('GET', '/health')).status).toBe(200);
    expect(restarts).toBe(0);
  });

  it('has created a batch only for the requests answered 201', async () => {
    const listAll = async (): Promise<string[]> => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: { id: string }[]; nextCursor: string | null } } = await app.request(
          'GET',
          `/v1/batches?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        );
        expect(page.status).toBe(200);
        ids.push(...page.body.items.map((item) => item.id));
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      return ids.sort();
    };
    // The list is a read model: give it a moment to catch up after a restart before comparing.
    const listed = await eventually(listAll, (ids) => ids.length >= created.size, 5_000, 'the batch list').catch(() => listAll());
    expect(listed).toEqual([...created].sort());
  });

  it('leaves no upload spool behind', async () => {
    const leftovers = () => readdirSync(tmp.path).filter((name) => name.startsWith('flotilla-upload-'));
    const left = await eventually(
      async () => leftovers(),
      (names) => names.length === 0,
      3_000,
      'upload spools to be removed',
    ).catch(() => leftovers());
    expect(left).toEqual([]);
  });
});
