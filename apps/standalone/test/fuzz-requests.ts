import fc from 'fast-check';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';

/**
 * Request generators for the API fuzz suite (fuzz.e2e.spec.ts): every operation of the OpenAPI
 * description, with bodies derived from its schemas, plus the hostile families of issue 7
 * (truncated and aborted uploads, deep nesting, dangerous keys, wrong content types and encodings),
 * and a sender that speaks plain HTTP/1.1 so that any header or half a body can go on the wire.
 *
 * Ids are not known when the cases are generated: the cases hold references (`Ref`) that are
 * resolved against the ids harvested so far, right before each request is sent. So a fixed seed
 * gives the same cases, and state-changing requests still hit real batches.
 */

// ---------------------------------------------------------------------------------------------
// The OpenAPI description

export interface Schema {
  readonly $ref?: string;
  readonly type?: string;
  readonly format?: string;
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly items?: Schema;
  readonly additionalProperties?: boolean | Schema;
  readonly oneOf?: readonly Schema[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
}

interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly schema?: Schema;
}

interface Operation {
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { readonly content: Readonly<Record<string, { readonly schema: Schema }>> };
}

export interface OpenApiDoc {
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
  readonly components: { readonly schemas: Readonly<Record<string, Schema>> };
}

export interface Endpoint {
  readonly method: string;
  /** As in the description: /v1/batches/{id}/pause. */
  readonly template: string;
  readonly parameters: readonly Parameter[];
  /** Schema of the application/json body, if the operation takes one. */
  readonly json: Schema | null;
  /** Schema of the multipart/form-data body (the alternative with a binary part), if any. */
  readonly multipart: Schema | null;
}

export const endpointsOf = (doc: OpenApiDoc): Endpoint[] =>
  Object.entries(doc.paths).flatMap(([template, operations]) =>
    Object.entries(operations).map(([method, operation]) => {
      const content = operation.requestBody?.content ?? {};
      const multipartSchema = content['multipart/form-data']?.schema;
      const multipart =
        multipartSchema === undefined
          ? null
          : ([multipartSchema, ...(multipartSchema.oneOf ?? [])].find((schema) =>
              Object.values(schema.properties ?? {}).some((p) => p.format === 'binary'),
            ) ?? null);
      return {
        method: method.toUpperCase(),
        template,
        parameters: operation.parameters ?? [],
        json: content['application/json']?.schema ?? null,
        multipart,
      };
    }),
  );

export const endpointName = (endpoint: Endpoint): string => `${endpoint.method} ${endpoint.template}`;

// ---------------------------------------------------------------------------------------------
// Ids harvested from responses, and references to them

export type RefKind = 'batch' | 'execution' | 'workflow' | 'webhook' | 'cursor';

/** A value chosen when the request is sent: a real harvested id (by `pick`), or junk. */
export interface Ref {
  readonly ref: RefKind;
  readonly real: boolean;
  readonly pick: number;
}

export class Pool {
  readonly batches: string[] = [];
  readonly totals = new Map<string, number>();
  readonly executions: string[] = [];
  readonly workflows: string[] = [];
  readonly webhooks: string[] = [];
  readonly cursors: string[] = [];

  private add(list: string[], value: string): void {
    if (!list.includes(value) && list.length < 500) list.push(value);
  }

  /** Collects every id and cursor found in a JSON answer. */
  harvest(value: unknown, depth = 0): void {
    if (depth > 6 || typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      for (const element of value.slice(0, 50)) this.harvest(element, depth + 1);
      return;
    }
    const record = value as Record<string, unknown>;
    const id = record['id'];
    if (typeof id === 'string') {
      if (typeof record['batchId'] === 'string' && typeof record['index'] === 'number') this.add(this.executions, id);
      else if (id.startsWith('whk_')) this.add(this.webhooks, id);
      else if ('target' in record && 'inputs' in record) this.add(this.workflows, id);
      else if ('total' in record || 'progress' in record) {
        this.add(this.batches, id);
        const total = record['total'] ?? (record['progress'] as { total?: unknown } | undefined)?.total;
        if (typeof total === 'number') this.totals.set(id, total);
      }
    }
    if (typeof record['nextCursor'] === 'string') this.add(this.cursors, record['nextCursor']);
    for (const [key, child] of Object.entries(record))
      if (key !== 'inputs' && key !== 'metadata' && key !== 'output') this.harvest(child, depth + 1);
  }

  /** Resolves a reference to a path segment or query value (already percent-encoded). */
  resolve(ref: Ref): string {
    const batch = this.batches.length > 0 ? nth(this.batches, ref.pick) : 'b_none';
    if (ref.real) {
      const list = {
        batch: this.batches,
        execution: this.executions,
        workflow: this.workflows,
        webhook: this.webhooks,
        cursor: this.cursors,
      }[ref.ref];
      if (ref.ref === 'execution' && (ref.pick % 3 === 0 || list.length === 0)) {
        // An execution id built from a real batch: in range mostly, one past the end sometimes.
        const total = this.totals.get(batch) ?? 1;
        return encodeURIComponent(`${batch}.${(ref.pick >> 2) % (total + 1)}`);
      }
      if (list.length > 0) return encodeURIComponent(nth(list, ref.pick));
    }
    const junk = [
      ...JUNK_SEGMENTS,
      encodeURIComponent(`${batch}.`),
      encodeURIComponent(`${batch}.-1`),
      encodeURIComponent(`${batch}.1e3`),
      encodeURIComponent(`${batch}.0x1`),
      encodeURIComponent(`${batch}.99999999999999999999`),
      encodeURIComponent(`${batch}.1.5`),
      encodeURIComponent(`${batch} `),
      encodeURIComponent(batch.toUpperCase()),
      ...(ref.ref === 'cursor' ? JUNK_CURSORS : []),
    ];
    return nth(junk, ref.pick);
  }
}

/** Path segments no API id looks like; percent-encoded already, some deliberately malformed. */
const JUNK_SEGMENTS = [
  'x',
  'nope',
  '0',
  '-1',
  'null',
  'undefined',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  '..',
  '%2e%2e',
  '.',
  '%00',
  '%E0%A4%A',
  '%',
  '%ZZ',
  '%C3%BC%F0%9F%99%82',
  '%20',
  'a.b.c',
  '.0',
  'whk_',
  'whk_00000000000000000000000000',
  'b'.repeat(5000),
  encodeURIComponent('🙂'.repeat(200)),
  encodeURIComponent("' OR 1=1 --"),
  encodeURIComponent('<script>'),
];

const JUNK_CURSORS = [
  '',
  'abc',
  'eyJ4IjoxfQ',
  'eyJwIjotMX0=',
  'AAAA',
  '%FF%FE',
  '-1',
  '9'.repeat(400),
  encodeURIComponent('{"p":1}'),
  'c'.repeat(10_000),
];

/** The element at `index` modulo the length: a generated number picks from a list of any size. */
const nth = <T>(list: readonly T[], index: number): T => {
  const value = list[index % list.length];
  if (value === undefined) throw new Error('nth: empty list');
  return value;
};

const refArb = (kind: RefKind, realWeight = 3): fc.Arbitrary<Ref> =>
  fc.record({
    ref: fc.constant(kind),
    real: fc.oneof({ weight: realWeight, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    pick: fc.nat(),
  });

// ---------------------------------------------------------------------------------------------
// Values

export interface Known {
  readonly workflowIds: readonly string[];
  readonly inputNames: readonly string[];
  readonly targetUrl: string;
  readonly receiverUrl: string;
}

const DANGEROUS_KEYS = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
  '__defineGetter__',
  'isPrototypeOf',
];

const UNICODE = [
  'ü',
  'Ω≈ç√∫',
  '🙂🙃👩‍👩‍👧',
  '\u202eevil',
  'a\u0000b',
  'e\u0301',
  '\ud800',
  '\udfff\ud800',
  '\uffff\ufffe',
  '𝕳𝖊𝖑𝖑𝖔',
  'ﷺ',
  '\u200b',
  '\r\n',
  '\t',
];

const GOOD_DATES = ['2030-01-01T00:00:00Z', '2030-01-01T00:00:00.000+02:00', '2020-01-01T00:00:00Z', '2026-01-01T12:30:00.5-05:00'];

/** Strings the ISO 8601 validator may let through although they are not RFC 3339 timestamps, and edge years. */
const ODD_DATES = [
  '2026-W05',
  '20261201',
  '2026-032',
  '2026-12-01T10',
  '2026-12-01T10:00:00,5Z',
  '-9999-01-01',
  '+275760-09-13T00:00:00Z',
  '+275761-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '2026-02-30T00:00:00Z',
  '2026-12-01',
  '2026-12-01T24:00:00Z',
  '0000-01-01T00:00:00Z',
  '2026-12-01T10:00:00.123456789Z',
];

/** Values that break assumptions: nulls, arrays for objects, huge and NaN-ish numbers, unicode, very long strings. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  // Wrong shapes first: null or an array where an object belongs is the most common 500.
  { weight: 8, arbitrary: fc.constantFrom<unknown>(null, null, [], [[]], {}, [null], [{}]) },
  fc.constantFrom<unknown>('', true, false),
  fc.constantFrom<unknown>(0, -1, -0.5, 0.1, 1e-7, 2 ** 31, 2 ** 53 + 2, 1e13, 1e15, 1e21, 1e308, -1e308, Number.MAX_SAFE_INTEGER),
  fc.constantFrom<unknown>(
    'NaN',
    'Infinity',
    '-Infinity',
    '1e999',
    '0x1F',
    ' 7 ',
    'null',
    'undefined',
    'true',
    '[object Object]',
    '1,5',
    '٣',
  ),
  fc.constantFrom<unknown>(...UNICODE),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(10_000, 100_000, 1_000_000).map((length) => 'x'.repeat(length)),
  fc.integer({ min: 100, max: 5000 }).map((length) => Array.from({ length }, (_, i) => i)),
  fc.constantFrom(...DANGEROUS_KEYS).map((key) => withKey({}, key, { polluted: 'yes' })),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Sets an own, enumerable key (also `__proto__`), so JSON.stringify writes it as data. */
const withKey = (target: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
};

/** Values shaped by the schema, with realistic choices where a name tells what is expected. */
export class ValueGen {
  constructor(
    private readonly doc: OpenApiDoc,
    private readonly known: Known,
    /**
     * Only values the API accepts: a wrong shape put anywhere in it is then the only thing wrong
     * with the body. (Optional properties stay optional: all of them at once would hide some, as
     * a default profile hides the profile pool.)
     */
    private readonly clean = false,
  ) {}

  schema(name: string): Schema {
    const schema = this.doc.components.schemas[name];
    if (!schema) throw new Error(`No schema ${name} in the OpenAPI description`);
    return schema;
  }

  of(schema: Schema, owner = '', property = ''): fc.Arbitrary<unknown> {
    if (schema.$ref !== undefined) {
      const name = schema.$ref.replace('#/components/schemas/', '');
      return this.of(this.schema(name), name, property);
    }
    const hinted = this.hint(owner, property, schema);
    if (hinted) return hinted;
    if (schema.oneOf) return fc.oneof(...schema.oneOf.map((alternative) => this.of(alternative, owner, property)));
    if (schema.enum) return fc.constantFrom(...schema.enum);
    switch (schema.type) {
      case 'object': {
        if (schema.properties) {
          const model: Record<string, fc.Arbitrary<unknown>> = {};
          for (const [key, child] of Object.entries(schema.properties)) model[key] = this.of(child, owner, key);
          return fc.record(model, { requiredKeys: [...(schema.required ?? [])] });
        }
        const values =
          typeof schema.additionalProperties === 'object'
            ? this.of(schema.additionalProperties, owner, property)
            : fc.jsonValue({ maxDepth: 2 });
        return schema.additionalProperties
          ? fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), values, { maxKeys: 3 })
          : fc.jsonValue({ maxDepth: 3 });
      }
      case 'array':
        return fc.array(schema.items ? this.of(schema.items, owner, property) : fc.jsonValue({ maxDepth: 1 }), {
          minLength: 1,
          maxLength: 4,
        });
      case 'string':
        return schema.format === 'uri'
          ? this.urls(this.known.receiverUrl)
          : fc.string({ minLength: schema.minLength ?? 1, maxLength: Math.max(schema.minLength ?? 0, 20) });
      case 'number':
      case 'integer':
        return fc.integer({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 1000, 1000) });
      case 'boolean':
        return fc.boolean();
      default:
        return fc.jsonValue({ maxDepth: 2 });
    }
  }

  private urls(good: string): fc.Arbitrary<string> {
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant(good) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'http://127.0.0.1:1/run',
          'http:/127.0.0.1',
          ' http://127.0.0.1/',
          'http://user:pw@127.0.0.1:1/x',
          'ftp://127.0.0.1/',
          'http://[::1]:1/',
          `${good}?q=${'x'.repeat(3000)}`,
        ),
      },
    );
  }

  /** Realistic values by name; undefined where the schema alone decides. */
  private hint(owner: string, property: string, schema: Schema): fc.Arbitrary<unknown> | undefined {
    const known = this.known;
    switch (`${owner}.${property}`) {
      case 'WorkflowInputDto.name':
        return fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...known.inputNames) },
          { weight: 1, arbitrary: fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/) },
        );
      case 'CreateWorkflowDto.id':
        return fc.stringMatching(/^[a-z0-9]{1,8}$/).map((suffix) => `fz-${suffix}`);
      case 'WorkflowTargetDto.url':
        return this.clean ? fc.constant(known.targetUrl) : this.urls(known.targetUrl);
      case 'WorkflowTargetDto.timeoutMs':
        if (this.clean) return fc.constant(30_000);
        return fc.oneof(fc.integer({ min: 100, max: 30_000 }), fc.constantFrom(1, 86_400_000));
      case 'RetryPolicyDto.maxAttempts':
        return fc.integer({ min: 1, max: 3 });
      case 'RetryPolicyDto.backoffMs':
        return fc.integer({ min: 0, max: 1000 });
      case 'RegisterWebhookRequest.url':
        return this.clean ? fc.constant(known.receiverUrl) : this.urls(known.receiverUrl);
      case 'RegisterWebhookRequest.events':
        return fc.subarray([...(schema.items?.enum ?? [])] as string[], { minLength: 1 });
      case 'RegisterWebhookRequest.secret':
        return fc.string({ minLength: 8, maxLength: 40 });
      case 'BatchItemDto.inputs':
        return this.inputs();
      case 'ExecutionResultDto.output':
        return fc.jsonValue({ maxDepth: 3 });
    }
    switch (property) {
      case 'workflowId':
        if (this.clean) return fc.constantFrom(...known.workflowIds);
        return fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom(...known.workflowIds) },
          { weight: 1, arbitrary: fc.constant('no-such-workflow') },
        );
      case 'workflowVersion':
        return this.clean ? fc.constant(1) : fc.constantFrom(1, 1, 1, 1, 1, 2, 99);
      case 'startAt':
      case 'executeAt':
        if (this.clean) return fc.constantFrom('2030-01-01T00:00:00Z', '2020-01-01T00:00:00.000Z');
        if (property === 'startAt')
          return fc.oneof(
            { weight: 3, arbitrary: fc.constantFrom(...GOOD_DATES) },
            { weight: 2, arbitrary: fc.constantFrom(...ODD_DATES) },
          );
        return fc.oneof(
          fc.constantFrom(...GOOD_DATES, ...ODD_DATES),
          fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
        );
      case 'maxConcurrent':
        return fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(1, 10_000) });
      case 'batchIntervalSeconds':
        if (this.clean) return fc.constantFrom(0, 1);
        return fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(0, 0, 0, 1) },
          { weight: 1, arbitrary: fc.constantFrom(0.5, 2_592_000, 3e9, 8.64e12) },
          { weight: 1, arbitrary: fc.constantFrom(1e13, 1e15, 1e20) },
        );
      case 'items':
        // Few items when clean: each one more dilutes where a wrong shape lands.
        return fc.array(this.of(this.schema('BatchItemDto'), 'BatchItemDto'), { minLength: 1, maxLength: this.clean ? 2 : 6 });
      case 'profile':
      case 'defaultProfile':
        return fc.constantFrom('gold', 'silver', 'standard');
      case 'metadata':
        return fc.dictionary(fc.constantFrom('account', 'region', 'tier', 'k'), fc.string({ maxLength: 12 }), { maxKeys: 3 });
      case 'name':
        if (this.clean) return fc.constant('fuzz');
        return fc.oneof(fc.constantFrom('fuzz', 'Fuzz batch'), fc.string({ minLength: 1, maxLength: 20 }));
      case 'reason':
        return fc.oneof(fc.constant('fuzz'), fc.string({ maxLength: 40 }));
    }
    return undefined;
  }

  /** The inputs of one batch item: the workflows' inputs (mutations add unknown ones). */
  inputs(): fc.Arbitrary<Record<string, unknown>> {
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    const text = fc.string({ minLength: 1, maxLength: 12 });
    for (const name of this.known.inputNames)
      model[name] = this.clean ? text : fc.oneof({ weight: 5, arbitrary: text }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
    return fc.record(model, { requiredKeys: [nth(this.known.inputNames, 0)] });
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations of a valid value

type Path = readonly (string | number)[];

const pathsOf = (value: unknown, path: Path = [], out: Path[] = [], limit = 400): Path[] => {
  if (out.length >= limit) return out;
  out.push(path);
  if (Array.isArray(value)) value.slice(0, 20).forEach((child, i) => pathsOf(child, [...path, i], out, limit));
  else if (typeof value === 'object' && value !== null)
    for (const [key, child] of Object.entries(value)) pathsOf(child, [...path, key], out, limit);
  return out;
};

const getAt = (value: unknown, path: Path): unknown =>
  path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], value);

export interface Mutation {
  /** `reshape`: replace an object or array (null, [], [[]], {}...). */
  readonly action: 'replace' | 'reshape' | 'delete' | 'unknown-key' | 'dangerous-key' | 'wrap-array';
  readonly pick: number;
  readonly value: unknown;
  readonly key: string;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  action: fc.oneof(
    { weight: 6, arbitrary: fc.constant('replace' as const) },
    { weight: 2, arbitrary: fc.constant('delete' as const) },
    { weight: 1, arbitrary: fc.constant('unknown-key' as const) },
    { weight: 2, arbitrary: fc.constant('dangerous-key' as const) },
    { weight: 1, arbitrary: fc.constant('wrap-array' as const) },
  ),
  pick: fc.nat(),
  value: hostileValue,
  key: fc.oneof(fc.constantFrom(...DANGEROUS_KEYS), fc.string({ minLength: 1, maxLength: 8 })),
});

/**
 * A third of the time a path into inputs, metadata or mapping (where user keys land), a third of
 * the time a container (where a wrong shape hurts most), else any path.
 */
const choosePath = (paths: Path[], pick: number, root: unknown): Path => {
  const preferred = paths.filter((path) => path.some((key) => key === 'inputs' || key === 'metadata' || key === 'mapping'));
  const containers = paths.filter((path) => {
    const node = getAt(root, path);
    return typeof node === 'object' && node !== null;
  });
  const choice = nth([preferred, containers, paths], pick);
  // Every property gets the same chance however long the arrays are: pick a property shape
  // (items[].metadata), then one of its paths (items[3].metadata).
  const groups = new Map<string, Path[]>();
  for (const path of choice.length > 0 ? choice : paths) {
    const shape = path.map((key) => (typeof key === 'number' ? '[]' : key)).join('.');
    groups.set(shape, [...(groups.get(shape) ?? []), path]);
  }
  const rest = Math.floor(pick / 3);
  return nth(nth([...groups.values()], rest), Math.floor(rest / 64));
};

/** Applies one mutation to a JSON copy of `value` (JSON.parse keeps `__proto__` an own key). */
export const mutate = (value: unknown, mutation: Mutation): unknown => {
  const root: { v: unknown } = { v: JSON.parse(JSON.stringify(value ?? null)) };
  const objects = (path: Path): boolean => {
    const node = getAt(root.v, path);
    return typeof node === 'object' && node !== null && !Array.isArray(node);
  };
  const all = pathsOf(root.v);
  const containers = (path: Path): boolean => typeof getAt(root.v, path) === 'object' && getAt(root.v, path) !== null;
  const candidates =
    mutation.action === 'dangerous-key' || mutation.action === 'unknown-key'
      ? all.filter(objects)
      : mutation.action === 'reshape'
        ? all.filter(containers)
        : all;
  const path = choosePath(candidates.length > 0 ? candidates : all, mutation.pick, root.v);
  if (path === undefined) return root.v;
  const parent = path.length === 0 ? root : (getAt(root.v, path.slice(0, -1)) as Record<string | number, unknown>);
  const key = path.at(-1) ?? 'v';
  switch (mutation.action) {
    case 'replace':
    case 'reshape':
      parent[key as never] = mutation.value as never;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete (parent as Record<string, unknown>)[key as string];
      break;
    case 'wrap-array':
      parent[key as never] = [parent[key as never]] as never;
      break;
    case 'unknown-key':
    case 'dangerous-key': {
      const target = getAt(root.v, path) as Record<string, unknown>;
      // No object left to hold a key (an earlier mutation replaced it): nothing to do.
      if (typeof target !== 'object' || target === null) break;
      const name = mutation.action === 'dangerous-key' ? nth(DANGEROUS_KEYS, mutation.pick) : `fz_${mutation.key}`;
      withKey(target, name, mutation.value);
      break;
    }
  }
  return root.v;
};

// ---------------------------------------------------------------------------------------------
// Cases

export interface Case {
  readonly family: string;
  readonly endpoint: string;
  /** Builds the request once the ids harvested so far are known. */
  build(pool: Pool): WireRequest;
}

export interface WireRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** `abort`: a raw socket announces the whole body, writes the first `abortAfter` bytes and disconnects. */
  readonly delivery: 'normal' | 'abort';
  readonly abortAfter?: number;
  /** What is special about this request, for the failure report. */
  readonly note?: string;
}

interface RequestLine {
  segments: (string | Ref)[];
  query: [string, string | Ref][];
  headers: Record<string, string>;
}

/** Header values go out as latin1: UTF-8 bytes pass through, control characters do not. */
const headerSafe = (text: string): string =>
  Buffer.from(text, 'utf8')
    .toString('latin1')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '?');

const actorArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom('ops@example.com', 'fuzzer') },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom('', '   ', 'constructor', '__proto__', 'a'.repeat(10_000), ...UNICODE),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
      )
      .map(headerSafe),
  },
);

const kindOfSegment = (template: string): RefKind =>
  template.startsWith('/v1/executions')
    ? 'execution'
    : template.startsWith('/v1/workflows')
      ? 'workflow'
      : template.startsWith('/v1/webhooks')
        ? 'webhook'
        : 'batch';

const QUERY_JUNK = [
  '',
  '0',
  '-1',
  '1001',
  '1000',
  '1',
  'abc',
  '1.5',
  '1e3',
  '%205',
  '+5',
  '0x10',
  'NaN',
  'Infinity',
  '9'.repeat(400),
  '%00',
  '%E0%A4%A',
  encodeURIComponent('🙂'),
  'true',
];

/** Path, query string and headers of a request, from the operation's parameters. */
const requestLineArb = (endpoint: Endpoint, hostile: boolean): fc.Arbitrary<RequestLine> => {
  const segments = endpoint.template
    .split('/')
    .slice(1)
    .map((part) => (part.startsWith('{') ? refArb(kindOfSegment(endpoint.template), hostile ? 2 : 6) : fc.constant(part)));
  const queryParams = endpoint.parameters.filter((parameter) => parameter.in === 'query');
  const queryValue = (parameter: Parameter): fc.Arbitrary<string | Ref> => {
    if (parameter.name === 'cursor') return refArb('cursor', hostile ? 1 : 3);
    const schema = parameter.schema ?? {};
    const valid: fc.Arbitrary<string> = schema.enum
      ? fc.constantFrom(...(schema.enum as string[]))
      : schema.type === 'number' || schema.type === 'integer'
        ? fc.integer({ min: schema.minimum ?? 0, max: schema.maximum ?? 1000 }).map(String)
        : fc.constantFrom('fz-sync', 'fz-async', 'nope');
    return fc.oneof({ weight: hostile ? 1 : 5, arbitrary: valid }, { weight: hostile ? 3 : 1, arbitrary: fc.constantFrom(...QUERY_JUNK) });
  };
  const query = fc
    .tuple(
      ...queryParams.map((parameter) =>
        fc.option(
          queryValue(parameter).map((value): [string, string | Ref] => [parameter.name, value]),
          { freq: 2 },
        ),
      ),
      hostile
        ? fc.subarray<[string, string]>([
            ['limit', '1'],
            ['cursor[x]', '1'],
            ['__proto__[x]', '1'],
            ['constructor', '1'],
            ['status[]', 'pending'],
            ['colour', 'red'],
            ['toString', 'x'],
          ])
        : fc.constant([] as [string, string][]),
    )
    .map((parts) => {
      const extra = parts[parts.length - 1] as [string, string][];
      const chosen = parts.slice(0, -1).filter((part) => part !== null) as [string, string | Ref][];
      return [...chosen, ...extra];
    });
  return fc.record({ segments: fc.tuple(...segments), query, actor: actorArb }).map(({ segments: resolved, query: pairs, actor }) => ({
    segments: resolved,
    query: pairs,
    headers: actor === undefined ? {} : ({ 'x-actor': actor } as Record<string, string>),
  }));
};

const pathOf = (line: RequestLine, pool: Pool): string => {
  const path = '/' + line.segments.map((segment) => (typeof segment === 'string' ? segment : pool.resolve(segment))).join('/');
  const query = line.query.map(([key, value]) => `${key}=${typeof value === 'string' ? value : pool.resolve(value)}`).join('&');
  return query === '' ? path : `${path}?${query}`;
};

const jsonRequest =
  (endpoint: Endpoint, line: RequestLine, body: string | undefined, headers: Record<string, string> = {}): ((pool: Pool) => WireRequest) =>
  (pool) => ({
    method: endpoint.method,
    path: pathOf(line, pool),
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...line.headers, ...headers },
    ...(body === undefined ? {} : { body: Buffer.from(body) }),
    delivery: 'normal',
  });

/** JSON text with `"__DEEP__"` replaced by `depth` levels of objects or arrays. */
const deepen = (value: unknown, depth: number, shape: 'object' | 'array'): string => {
  const [open, close] = shape === 'object' ? ['{"a":', '}'] : ['[', ']'];
  return JSON.stringify(value).replace('"__DEEP__"', open.repeat(depth) + '1' + close.repeat(depth));
};

const depthArb = fc.oneof(fc.integer({ min: 100, max: 20_000 }), fc.constantFrom(100, 1000, 5000, 10_000, 20_000));

export class CaseGen {
  readonly endpoints: Endpoint[];
  private readonly values: ValueGen;
  private readonly cleanValues: ValueGen;

  constructor(
    doc: OpenApiDoc,
    private readonly known: Known,
  ) {
    this.endpoints = endpointsOf(doc);
    this.values = new ValueGen(doc, known);
    this.cleanValues = new ValueGen(doc, known, true);
  }

  /** Every case family, weighted; a few hundred of these make a run. */
  cases(): fc.Arbitrary<Case> {
    const all = this.endpoints;
    const withJson = all.filter((endpoint) => endpoint.json !== null);
    const withBody = all.filter((endpoint) => endpoint.json !== null || endpoint.multipart !== null);
    const multipart = all.filter((endpoint) => endpoint.multipart !== null);
    // Operations with bigger bodies get more of the cases: there is more to get wrong there.
    const pick = (list: Endpoint[]) =>
      fc.oneof(...list.map((endpoint) => ({ weight: this.weightOf(endpoint), arbitrary: fc.constant(endpoint) })));
    return fc.oneof(
      { weight: 20, arbitrary: pick(all).chain((endpoint) => this.schemaCase(endpoint, 'schema-valid', 0)) },
      { weight: 16, arbitrary: pick(all).chain((endpoint) => this.schemaCase(endpoint, 'mutant', 1)) },
      { weight: 18, arbitrary: pick(withJson).chain((endpoint) => this.wrongShapeCase(endpoint)) },
      { weight: 6, arbitrary: pick(all).chain((endpoint) => this.schemaCase(endpoint, 'chaos', 4)) },
      { weight: 10, arbitrary: pick(multipart).chain((endpoint) => this.multipartCase(endpoint, 'multipart')) },
      { weight: 6, arbitrary: pick(multipart).chain((endpoint) => this.multipartCase(endpoint, 'truncated-multipart')) },
      { weight: 6, arbitrary: pick(withBody).chain((endpoint) => this.abortedCase(endpoint)) },
      { weight: 6, arbitrary: pick([...withJson, ...multipart]).chain((endpoint) => this.deepCase(endpoint)) },
      { weight: 8, arbitrary: pick([...withJson, ...multipart]).chain((endpoint) => this.dangerousCase(endpoint)) },
      { weight: 5, arbitrary: pick(withJson).chain((endpoint) => this.contentTypeCase(endpoint)) },
      { weight: 5, arbitrary: pick(withBody).chain((endpoint) => this.encodingCase(endpoint)) },
    );
  }

  /** 1 for an operation without a body, up to 8 for one whose body schema has many properties. */
  private weightOf(endpoint: Endpoint): number {
    const size = (schema: Schema | undefined, depth: number): number => {
      if (schema === undefined || depth > 4) return 0;
      if (schema.$ref !== undefined) return size(this.values.schema(schema.$ref.replace('#/components/schemas/', '')), depth + 1);
      const own = Object.values(schema.properties ?? {});
      return (
        own.length +
        [...own, ...(schema.oneOf ?? []), ...(schema.items ? [schema.items] : [])].reduce((sum, child) => sum + size(child, depth + 1), 0)
      );
    };
    return 1 + Math.min(7, Math.ceil(Math.max(size(endpoint.json ?? undefined, 0), size(endpoint.multipart ?? undefined, 0)) / 3));
  }

  /** A valid body of the operation's JSON schema (the JSON alternative of a multipart operation). */
  private validBody(endpoint: Endpoint): fc.Arbitrary<unknown> {
    const schema = endpoint.json ?? this.values.schema('BatchConfigDto');
    return this.values.of(schema.oneOf?.[0] ?? schema);
  }

  private schemaCase(endpoint: Endpoint, family: string, mutations: number): fc.Arbitrary<Case> {
    const body =
      endpoint.json === null
        ? fc.constant(undefined)
        : fc
            .tuple(this.validBody(endpoint), fc.array(mutationArb, { minLength: mutations, maxLength: mutations }))
            .map(([valid, list]) => list.reduce(mutate, valid));
    return fc.tuple(requestLineArb(endpoint, mutations > 0), body).map(([line, value]) => ({
      family,
      endpoint: endpointName(endpoint),
      build: jsonRequest(endpoint, line, value === undefined ? undefined : JSON.stringify(value)),
    }));
  }

  /** An acceptable body with one of its objects or arrays replaced by null, [], [[]], {}... */
  private wrongShapeCase(endpoint: Endpoint): fc.Arbitrary<Case> {
    const schema = endpoint.json ?? {};
    const shapes = fc.constantFrom<unknown>(null, null, null, [], [[]], {}, [null]);
    return fc
      .record({
        line: requestLineArb(endpoint, false),
        valid: this.cleanValues.of(schema.oneOf?.[0] ?? schema),
        pick: fc.nat(),
        value: shapes,
      })
      .map(({ line, valid, pick, value }) => ({
        family: 'wrong-shape',
        endpoint: endpointName(endpoint),
        build: jsonRequest(endpoint, line, JSON.stringify(mutate(valid, { action: 'reshape', pick, value, key: '' }))),
      }));
  }

  /** Multipart fields from the operation's multipart schema: the CSV file, JSON config and mapping, plain fields. */
  private fields(endpoint: Endpoint, hostile: boolean): fc.Arbitrary<Part[]> {
    const properties = Object.entries(endpoint.multipart?.properties ?? {});
    const required = endpoint.multipart?.required ?? [];
    const mapping = this.mapping();
    const config = fc
      .tuple(
        this.values.of(this.values.schema('BatchConfigDto'), 'BatchConfigDto'),
        fc.option(mapping, { freq: 3 }),
        fc.array(mutationArb, { maxLength: hostile ? 2 : 0 }),
      )
      .map(([valid, map, list]) => list.reduce(mutate, map === null ? valid : { ...(valid as object), mapping: map }));
    const configText = fc.oneof(
      { weight: 8, arbitrary: config.map((value) => JSON.stringify(value)) },
      {
        weight: hostile ? 3 : 0,
        arbitrary: fc.constantFrom(
          'null',
          '[]',
          '"x"',
          '1',
          '{not json',
          '',
          '{}',
          '{"mapping":null}',
          '{"mapping":{"email":null}}',
          '{"mapping":[[]]}',
        ),
      },
    );
    const partFor = (name: string, schema: Schema): fc.Arbitrary<Part | null> => {
      const value: fc.Arbitrary<Part> =
        schema.format === 'binary'
          ? this.csv(hostile).map((csv) => ({ name, filename: 'rows.csv', value: csv }))
          : name === 'config'
            ? configText.map((text) => ({ name, value: text }))
            : name === 'mapping'
              ? fc
                  .oneof(
                    mapping.map((map) => JSON.stringify(map)),
                    fc.constantFrom('null', '{"email":null}', '[]', '{"a":{"type":"metadata"}}', '{bad'),
                  )
                  .map((text) => ({ name, value: text }))
              : name === 'workflowVersion'
                ? fc.constantFrom('1', '1', '2', '0', '-1', 'abc', '1e3', '1.5', '').map((text) => ({ name, value: text }))
                : name === 'workflowId'
                  ? fc.constantFrom(...this.known.workflowIds, 'nope', '').map((text) => ({ name, value: text }))
                  : fc.string({ maxLength: 20 }).map((text) => ({ name, value: text }));
      return required.includes(name) || name === 'file' || name === 'config'
        ? hostile
          ? fc.option(value, { freq: 8 })
          : value
        : fc.option(value, { freq: 2 });
    };
    const extras: fc.Arbitrary<Part[]> = hostile
      ? fc.oneof(
          fc.constant<Part[]>([]),
          fc
            .integer({ min: 15, max: 30 })
            .map((count): Part[] => Array.from({ length: count }, (_, i) => ({ name: `extra${i}`, value: 'x' }))),
          fc.constant<Part[]>([{ name: 'file', filename: 'second.csv', value: 'email\nb\n' }]),
          fc.constant<Part[]>([{ name: 'other', filename: '../../etc/passwd', value: 'email\na\n' }]),
          fc.constant<Part[]>([{ name: '__proto__', value: '{"polluted":"yes"}' }]),
          fc.constant<Part[]>([{ name: 'file', value: 'email\nnot-a-file-part\n' }]),
        )
      : fc.constant([]);
    return fc
      .tuple(fc.tuple(...properties.map(([name, schema]) => partFor(name, schema))), extras, fc.boolean())
      .map(([parts, extra, extrasFirst]) => {
        const present = parts.filter((part): part is Part => part !== null);
        return extrasFirst ? [...extra, ...present] : [...present, ...extra];
      });
  }

  private mapping(): fc.Arbitrary<Record<string, unknown>> {
    const target = fc.oneof(
      fc.constantFrom(...this.known.inputNames).map((field) => ({ type: 'input', field })),
      fc.constant({ type: 'profile' }),
      fc.constantFrom('account', 'region').map((key) => ({ type: 'metadata', key })),
      fc.constant({ type: 'skip' }),
    );
    return fc.dictionary(fc.constantFrom(...this.known.inputNames, 'Email', 'tier', 'acct', 'notes'), target, { maxKeys: 3 });
  }

  private csv(hostile: boolean): fc.Arbitrary<string> {
    const cell = fc.oneof(
      { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9@.]{0,10}$/) },
      { weight: 1, arbitrary: fc.constantFrom('"quoted, cell"', '"multi\nline"', '"unclosed', '', ...UNICODE) },
    );
    const header = fc.subarray([...this.known.inputNames, 'tier', 'acct', 'notes'], { minLength: 1 });
    const regular = fc
      .tuple(header, fc.array(fc.array(cell, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }))
      .map(([head, rows]) => [head.join(','), ...rows.map((row) => row.join(','))].join('\n') + '\n');
    if (!hostile) return regular;
    return fc.oneof(
      { weight: 4, arbitrary: regular },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          '',
          'email\n',
          '\ufeffemail,name\na,b\n',
          'email,name\r\na,b\r\n',
          'email,name\ra,b\r',
          'constructor,__proto__,toString\na,b,c\n',
          'email,email\na,b\n',
          ',,\n,,\n',
          'email\n"unclosed\n',
          `email\n${'x'.repeat(200_000)}\n`,
          '\u0000\u0001\u0002\n\u00ff\n',
        ),
      },
    );
  }

  private multipartCase(endpoint: Endpoint, family: 'multipart' | 'truncated-multipart'): fc.Arbitrary<Case> {
    const truncated = family === 'truncated-multipart';
    return fc
      .record({
        line: requestLineArb(endpoint, false),
        parts: this.fields(endpoint, !truncated),
        boundary: fc.stringMatching(/^[A-Za-z0-9]{1,40}$/),
        framing: truncated
          ? fc.constant('proper' as const)
          : fc.constantFrom(
              'proper',
              'proper',
              'proper',
              'proper',
              'no-boundary',
              'wrong-boundary',
              'quoted-boundary',
              'no-closing',
              'lf-only',
            ),
        cut: fc.double({ min: 0.05, max: 0.98, noNaN: true }),
      })
      .map(({ line, parts, boundary, framing, cut }) => ({
        family,
        endpoint: endpointName(endpoint),
        build: (pool: Pool): WireRequest => {
          let body = multipartBody(parts, boundary, framing === 'lf-only' ? '\n' : '\r\n');
          if (framing === 'no-closing') body = body.subarray(0, body.length - `--${boundary}--\r\n`.length);
          if (truncated) body = body.subarray(0, Math.max(1, Math.floor(body.length * cut)));
          const type =
            {
              'no-boundary': 'multipart/form-data',
              'wrong-boundary': `multipart/form-data; boundary=${boundary}x`,
              'quoted-boundary': `multipart/form-data; boundary="${boundary}"`,
            }[framing as string] ?? `multipart/form-data; boundary=${boundary}`;
          const note = truncated
            ? `multipart cut at ${Math.round(cut * 100)}% (no closing boundary), sent whole`
            : `multipart framing: ${framing}`;
          return {
            method: endpoint.method,
            path: pathOf(line, pool),
            headers: { ...line.headers, 'content-type': type },
            body,
            delivery: 'normal',
            note,
          };
        },
      }));
  }

  /** A client that announces a whole body, sends part of it and disconnects. */
  private abortedCase(endpoint: Endpoint): fc.Arbitrary<Case> {
    const multipart = fc
      .tuple(this.fields(endpoint, false), fc.stringMatching(/^[A-Za-z0-9]{1,20}$/))
      .map(([parts, boundary]) => ({ type: `multipart/form-data; boundary=${boundary}`, bytes: multipartBody(parts, boundary, '\r\n') }));
    const json = this.validBody(endpoint).map((value) => ({ type: 'application/json', bytes: Buffer.from(JSON.stringify(value)) }));
    const body: fc.Arbitrary<{ type: string; bytes: Buffer }> =
      endpoint.multipart === null
        ? json
        : endpoint.json === null
          ? multipart
          : fc.oneof({ weight: 3, arbitrary: multipart }, { weight: 1, arbitrary: json });
    return fc
      .record({ line: requestLineArb(endpoint, false), body, cut: fc.double({ min: 0, max: 0.95, noNaN: true }) })
      .map(({ line, body: { type, bytes }, cut }) => ({
        family: 'aborted-upload',
        endpoint: endpointName(endpoint),
        build: (pool: Pool): WireRequest => ({
          method: endpoint.method,
          path: pathOf(line, pool),
          headers: { ...line.headers, 'content-type': type },
          body: bytes,
          delivery: 'abort',
          abortAfter: Math.floor(bytes.length * cut),
        }),
      }));
  }

  /** JSON nested 100 to 20,000 levels, at any place of a body (multipart: inside config or mapping). */
  private deepCase(endpoint: Endpoint): fc.Arbitrary<Case> {
    return fc
      .record({
        line: requestLineArb(endpoint, false),
        valid: this.validBody(endpoint),
        pick: fc.nat(),
        depth: depthArb,
        shape: fc.constantFrom<'object' | 'array'>('object', 'array'),
        boundary: fc.constant('fuzzdeep'),
      })
      .map(({ line, valid, pick, depth, shape, boundary }) => {
        const marked = mutate(valid, { action: 'replace', pick, value: '__DEEP__', key: '' });
        const note = `${depth} levels of ${shape}s`;
        const text = deepen(marked, depth, shape);
        const multipart = endpoint.json === null || (endpoint.multipart !== null && pick % 2 === 1);
        return {
          family: 'deep-nesting',
          endpoint: endpointName(endpoint),
          build: (pool: Pool): WireRequest => {
            if (!multipart) return { ...jsonRequest(endpoint, line, text)(pool), note };
            const field = endpoint.template.endsWith('preview') ? 'mapping' : 'config';
            const parts: Part[] = [
              { name: field, value: field === 'mapping' ? deepen({ email: '__DEEP__' }, depth, shape) : text },
              ...(field === 'mapping' ? [{ name: 'workflowId', value: nth(this.known.workflowIds, 0) }] : []),
              { name: 'file', filename: 'rows.csv', value: `${this.known.inputNames.join(',')}\na,b\n` },
            ];
            return {
              method: endpoint.method,
              path: pathOf(line, pool),
              headers: { ...line.headers, 'content-type': `multipart/form-data; boundary=${boundary}` },
              body: multipartBody(parts, boundary, '\r\n'),
              delivery: 'normal',
              note: `${note} in the ${field} field`,
            };
          },
        };
      });
  }

  /** `constructor`, `__proto__`, `toString`... as keys at any depth, mostly in inputs, metadata and mapping. */
  private dangerousCase(endpoint: Endpoint): fc.Arbitrary<Case> {
    const keyMutation = mutationArb.map((mutation): Mutation => ({ ...mutation, action: 'dangerous-key' }));
    return fc
      .record({
        line: requestLineArb(endpoint, false),
        valid: this.validBody(endpoint),
        list: fc.array(keyMutation, { minLength: 1, maxLength: 3 }),
        boundary: fc.constant('fuzzkeys'),
      })
      .map(({ line, valid, list, boundary }) => {
        const value = list.reduce(mutate, valid);
        return {
          family: 'dangerous-keys',
          endpoint: endpointName(endpoint),
          build: (pool: Pool): WireRequest => {
            if (endpoint.json !== null) return jsonRequest(endpoint, line, JSON.stringify(value))(pool);
            const preview = endpoint.template.endsWith('preview');
            const mapping = list.reduce(mutate, { email: { type: 'input', field: this.known.inputNames[0] } });
            const parts: Part[] = preview
              ? [
                  { name: 'workflowId', value: nth(this.known.workflowIds, 0) },
                  { name: 'mapping', value: JSON.stringify(mapping) },
                ]
              : [{ name: 'config', value: JSON.stringify(value) }];
            parts.push({ name: 'file', filename: 'rows.csv', value: 'email,constructor,__proto__\na@x.io,c,p\n' });
            return {
              method: endpoint.method,
              path: pathOf(line, pool),
              headers: { ...line.headers, 'content-type': `multipart/form-data; boundary=${boundary}` },
              body: multipartBody(parts, boundary, '\r\n'),
              delivery: 'normal',
            };
          },
        };
      });
  }

  private contentTypeCase(endpoint: Endpoint): fc.Arbitrary<Case> {
    const types = [
      null,
      '',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
      'multipart/form-data; boundary=zzz',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/json; charset=bogus',
      'application/*',
      '*/*',
      'application/json, text/plain',
      'APPLICATION/JSON',
      'application/jsonx',
      'application/merge-patch+json',
      'application/xml',
      'image/png',
    ];
    return fc
      .record({
        line: requestLineArb(endpoint, false),
        valid: this.validBody(endpoint),
        type: fc.constantFrom(...types),
        shape: fc.constantFrom('json', 'urlencoded', 'empty', 'scalar'),
      })
      .map(({ line, valid, type, shape }) => {
        const text =
          shape === 'json'
            ? JSON.stringify(valid)
            : shape === 'urlencoded'
              ? Object.entries(typeof valid === 'object' && valid !== null ? valid : { a: 1 })
                  .map(
                    ([key, value]) =>
                      `${encodeURIComponent(key)}=${encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value))}`,
                  )
                  .join('&')
              : shape === 'empty'
                ? ''
                : 'null';
        return {
          family: 'content-type',
          endpoint: endpointName(endpoint),
          build: (pool: Pool): WireRequest => {
            const headers: Record<string, string> = { ...line.headers };
            if (type !== null) headers['content-type'] = type;
            return { method: endpoint.method, path: pathOf(line, pool), headers, body: Buffer.from(text), delivery: 'normal' };
          },
        };
      });
  }

  private encodingCase(endpoint: Endpoint): fc.Arbitrary<Case> {
    const encodings = [
      'foo',
      'gzip',
      'deflate',
      'br',
      'gzip (real)',
      'gzip (truncated)',
      'gzip, gzip',
      'identity',
      'GZIP (real)',
      'x-gzip',
      'gzip, foo',
      '',
    ] as const;
    const body: fc.Arbitrary<{ type: string; bytes: Buffer }> =
      endpoint.json !== null
        ? this.validBody(endpoint).map((value) => ({ type: 'application/json', bytes: Buffer.from(JSON.stringify(value)) }))
        : this.fields(endpoint, false).map((parts) => ({
            type: 'multipart/form-data; boundary=fuzzenc',
            bytes: multipartBody(parts, 'fuzzenc', '\r\n'),
          }));
    return fc
      .record({ line: requestLineArb(endpoint, false), body, encoding: fc.constantFrom(...encodings) })
      .map(({ line, body: { type, bytes }, encoding }) => {
        const real = encoding.endsWith('(real)');
        const zipped = gzipSync(bytes);
        const payload = real ? zipped : encoding.endsWith('(truncated)') ? zipped.subarray(0, Math.ceil(zipped.length / 2)) : bytes;
        return {
          family: 'content-encoding',
          endpoint: endpointName(endpoint),
          build: (pool: Pool): WireRequest => ({
            method: endpoint.method,
            path: pathOf(line, pool),
            headers: { ...line.headers, 'content-type': type, 'content-encoding': encoding.replace(/ \(.*\)$/, '') },
            body: payload,
            delivery: 'normal',
          }),
        };
      });
  }
}

// ---------------------------------------------------------------------------------------------
// Multipart bodies

interface Part {
  readonly name: string;
  readonly value: string;
  readonly filename?: string;
}

const multipartBody = (parts: readonly Part[], boundary: string, eol: string): Buffer => {
  const chunks = parts.map((part) => {
    const disposition = `Content-Disposition: form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    const type = part.filename === undefined ? '' : `${eol}Content-Type: text/csv`;
    return `--${boundary}${eol}${disposition}${type}${eol}${eol}${part.value}${eol}`;
  });
  return Buffer.from(`${chunks.join('')}--${boundary}--${eol}`);
};

// ---------------------------------------------------------------------------------------------
// The wire

export interface WireResponse {
  /** Null when there was no answer (aborted by us, or the connection failed). */
  readonly status: number | null;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Why there is no answer, when the client did not cause it. */
  readonly error?: string;
}

export const send = (port: number, request: WireRequest, timeoutMs = 20_000): Promise<WireResponse> =>
  request.delivery === 'abort' ? sendAborted(port, request) : sendNormal(port, request, timeoutMs);

const sendNormal = (port: number, wire: WireRequest, timeoutMs: number): Promise<WireResponse> =>
  new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...wire.headers };
    if (wire.body !== undefined) headers['content-length'] = wire.body.length;
    const request = httpRequest(
      { host: '127.0.0.1', port, method: wire.method, path: wire.path, headers, agent: false, timeout: timeoutMs },
      (response) => {
        // A live stream (SSE) answers with its headers and stays open: that is its answer, and the client hangs up.
        if (String(response.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          resolve({ status: response.statusCode ?? null, headers: response.headers, body: '' });
          request.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? null, headers: response.headers, body: Buffer.concat(chunks).toString() }),
        );
        response.on('error', (error) =>
          resolve({
            status: response.statusCode ?? null,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
            error: `response: ${error.message}`,
          }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: null, headers: {}, body: '', error: `${error.code ?? ''} ${error.message}`.trim() }),
    );
    request.end(wire.body);
  });

/** Writes the headers (announcing the whole body) and the first bytes of the body on a raw socket, then destroys it. */
const sendAborted = (port: number, wire: WireRequest): Promise<WireResponse> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const body = wire.body ?? Buffer.alloc(0);
    const head = [
      `${wire.method} ${wire.path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      ...Object.entries(wire.headers).map(([key, value]) => `${key}: ${value}`),
      `Content-Length: ${body.length}`,
      '',
      '',
    ].join('\r\n');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body.subarray(0, wire.abortAfter ?? 0)]));
      setTimeout(() => {
        socket.destroy();
        const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
        resolve({ status: status === undefined ? null : Number(status), headers: {}, body: answer.slice(answer.indexOf('\r\n\r\n') + 4) });
      }, 60);
    });
  });
