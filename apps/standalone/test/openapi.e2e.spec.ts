import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PlatformProcess, TargetServer, freePort, tempDir } from '@flotilla/testing';
import ts from 'typescript';

/**
 * The served OpenAPI description is one a client can be generated from: openapi-typescript turns
 * /docs-json into types, and a program doing the README's round trip against those types
 * type-checks, while the same program with a wrong use of an answer does not. The program is then
 * run against the product, so the types are checked against the real answers too.
 */

const root = resolve(__dirname, '../../..');
const run = promisify(execFile);

interface Operation {
  operationId?: string;
  summary?: string;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

/** The README's round trip, typed by the generated client types alone. `WRONG_USE` marks where a wrong program differs. */
const program = (wrongUse: string): string => `
import type { paths } from './api';

type Json<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type Answer<Path extends keyof paths, Method extends keyof paths[Path], Status extends number> = paths[Path][Method] extends { responses: infer R }
  ? Status extends keyof R ? Json<R[Status]> : never
  : never;
type Body<Path extends keyof paths, Method extends keyof paths[Path]> = paths[Path][Method] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;

const base = process.env['BASE_URL'] ?? '';

const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
  const response = await fetch(base + path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.status, body: (await response.json()) as T };
};

const main = async (): Promise<void> => {
  const workflow: Body<'/v1/workflows', 'post'> = {
    id: 'greet',
    name: 'Greet',
    inputs: [{ name: 'email' }, { name: 'first_name', required: false }],
    target: { url: process.env['TARGET_URL'] ?? '' },
  };
  const registered = await call<Answer<'/v1/workflows', 'post', 201>>('POST', '/v1/workflows', workflow);
  const version: number = registered.body.version;
  const mode: 'sync' | 'async' = registered.body.target.mode;

  const request: Body<'/v1/batches', 'post'> = {
    name: 'November re-engagement',
    workflowId: registered.body.id,
    maxConcurrent: 2,
    batchIntervalSeconds: 0,
    items: [{ inputs: { email: 'ann@example.com' } }, { inputs: { email: 'bob@example.com', first_name: 'Bob' } }],
  };
  const created = await call<Answer<'/v1/batches', 'post', 201>>('POST', '/v1/batches', request);
  const batchId: string = created.body.id;
  const total: number = created.body.total;

  let batch = (await call<Answer<'/v1/batches/{id}', 'get', 200>>('GET', '/v1/batches/' + batchId)).body;
  // A batch is completed once every execution is triggered; their outcomes come after.
  for (let tries = 0; batch.progress.completed + batch.progress.failed < total && tries < 200; tries++) {
    await new Promise((done) => setTimeout(done, 50));
    batch = (await call<Answer<'/v1/batches/{id}', 'get', 200>>('GET', '/v1/batches/' + batchId)).body;
  }
  const completed: number = batch.progress.completed;
  const percent: number = batch.progress.percent;
  const eta: string | null = batch.estimatedCompletionAt;
  ${wrongUse}

  const page = (await call<Answer<'/v1/batches/{id}/executions', 'get', 200>>('GET', '/v1/batches/' + batchId + '/executions')).body;
  const indexes: number[] = page.items.map((execution) => execution.index);
  const next: string | null = page.nextCursor;
  const outcome = page.items[0]?.outcome;
  const finished: string | undefined = outcome?.finishedAt;

  const missing = await call<Answer<'/v1/batches/{id}', 'get', 404>>('GET', '/v1/batches/nope');
  const statusCode: number = missing.body.statusCode;
  const field: string | undefined = missing.body.details?.[0]?.field;

  console.log(JSON.stringify({ version, mode, total, status: batch.status, completed, percent, eta, indexes, next, finished: typeof finished, statusCode, field: field ?? null, error: missing.body.error }));
};

void main();
`;

/** A use of an answer each type must refuse: if the client typed answers as unknown or any, one of these would pass. */
const WRONG_USES: Record<string, string> = {
  'completed is a number, not a string': 'const wrong: string = batch.progress.completed;',
  'status is one of the batch statuses': "const wrong: typeof batch.status = 'finished';",
  'a page has no such field as next': 'const wrong = page.next;',
  'the error shape has no field code': 'const wrong: string = missing.body.code;',
};

const compilerOptions: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2023,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  typeRoots: [join(root, 'node_modules/@types')],
  types: ['node'],
  skipLibCheck: true,
};

const diagnosticsOf = (program: ts.Program, file: string): string[] => {
  const source = program.getSourceFile(file);
  if (source === undefined) throw new Error(`${file} is not in the program`);
  return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((diagnostic) => {
    const line = diagnostic.start === undefined ? 0 : source.getLineAndCharacterOfPosition(diagnostic.start).line + 1;
    return `line ${line}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
  });
};

describe('the OpenAPI description', () => {
  let data: ReturnType<typeof tempDir>;
  let work: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;
  let document: { servers?: { url: string }[]; paths: Record<string, Record<string, Operation>> };

  beforeAll(async () => {
    data = tempDir('flotilla-openapi-');
    work = tempDir('flotilla-openapi-client-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    const response = await fetch(`${app.url}/docs-json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as typeof document;
  });

  afterAll(async () => {
    await app.kill();
    await target.stop();
    data.remove();
    work.remove();
  });

  it("names every operation, describes its answer body and its errors in the one error shape (Extend's on /workflow_runs), and sets servers", () => {
    expect(document.servers?.length).toBeGreaterThan(0);
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ at: `${method} ${path}`, ...operation })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(20);
    const ids = operations.map((operation) => operation.operationId);
    expect(ids.filter((id) => id === undefined || !/^[a-z][A-Za-z]+$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const operation of operations) {
      expect({ at: operation.at, summary: typeof operation.summary === 'string' && operation.summary.length > 0 }).toEqual({
        at: operation.at,
        summary: true,
      });
      const statuses = Object.keys(operation.responses);
      const success = statuses.filter((status) => status.startsWith('2'));
      expect({
        at: operation.at,
        // JSON, or for the live streams an event stream: described either way.
        bodies: success.map((status) => {
          const content = operation.responses[status]?.content;
          return (content?.['application/json'] ?? content?.['text/event-stream'])?.schema !== undefined;
        }),
      }).toEqual({
        at: operation.at,
        bodies: [true],
      });
      for (const status of statuses.filter((status) => status.startsWith('4'))) {
        expect({ at: operation.at, status, schema: operation.responses[status]?.content?.['application/json']?.schema }).toEqual({
          at: operation.at,
          status,
          schema: { $ref: `#/components/schemas/${operation.at.includes(' /workflow_runs') ? 'ExtendErrorBody' : 'ErrorBody'}` },
        });
      }
    }
    const callback = operations.find((operation) => operation.operationId === 'recordExecutionResult');
    expect(Object.keys(callback?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '403', '404', '409']));
  });

  it('asks for the bearer key everywhere but on the public operations, which say they need none', () => {
    const described = document as typeof document & { security?: unknown; components?: { securitySchemes?: Record<string, unknown> } };
    expect(described.security).toEqual([{ bearer: [] }]);
    expect(described.components?.securitySchemes?.['bearer']).toMatchObject({ type: 'http', scheme: 'bearer' });
    const open = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => (operation as { security?: unknown }).security !== undefined)
        .map(([method, operation]) => ({ at: `${method} ${path}`, security: (operation as { security?: unknown }).security })),
    );
    expect(open).toEqual([
      { at: 'get /health', security: [{}] },
      { at: 'get /health/ready', security: [{}] },
      { at: 'get /metrics', security: [{}] },
      { at: 'post /v1/executions/{id}/result', security: [{}] },
    ]);
  });

  it('generates a typed client: the round trip type-checks and runs, and each wrong use of an answer fails to type-check', async () => {
    const spec = join(work.path, 'openapi.json');
    writeFileSync(spec, JSON.stringify(document));
    // Run from the temporary folder, so no redocly.yaml nearby changes what it does. By default
    // openapi-typescript makes every field with a `default` required, request fields too: a request
    // may leave them out (the server fills them in), so defaults are left out of the types.
    const cli = join(root, 'node_modules/openapi-typescript/bin/cli.js');
    await run(process.execPath, [cli, spec, '--output', join(work.path, 'api.d.ts'), '--default-non-nullable', 'false'], {
      cwd: work.path,
    });
    expect(readFileSync(join(work.path, 'api.d.ts'), 'utf8')).toContain('BatchView');

    const right = join(work.path, 'round-trip.ts');
    writeFileSync(right, program(''));
    const wrong = Object.entries(WRONG_USES).map(([what, use], i) => {
      const file = join(work.path, `wrong-${i}.ts`);
      writeFileSync(file, program(use));
      return { what, use, file };
    });
    const checked = ts.createProgram([right, ...wrong.map(({ file }) => file)], compilerOptions);

    expect(diagnosticsOf(checked, right)).toEqual([]);
    for (const { what, use, file } of wrong) {
      // Refused on the line of the wrong use, and nowhere else.
      const line =
        program(use)
          .split('\n')
          .findIndex((text) => text.trim() === use) + 1;
      const problems = diagnosticsOf(checked, file);
      expect({ what, refused: problems.length > 0 }).toEqual({ what, refused: true });
      expect({ what, problems: problems.filter((problem) => !problem.startsWith(`line ${line}:`)) }).toEqual({ what, problems: [] });
    }

    // The types describe the real answers: the same program, compiled, runs the round trip against the product.
    const compiled = join(work.path, 'round-trip.js');
    writeFileSync(
      compiled,
      ts.transpileModule(readFileSync(right, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2023 },
      }).outputText,
    );
    const { stdout } = await run(process.execPath, [compiled], {
      env: { ...process.env, BASE_URL: app.url, TARGET_URL: target.url },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      version: 1,
      mode: 'sync',
      total: 2,
      status: 'completed',
      completed: 2,
      percent: 100,
      eta: null,
      indexes: [0, 1],
      next: null,
      finished: 'string',
      statusCode: 404,
      field: null,
      error: 'Not Found',
    });
  });
});
