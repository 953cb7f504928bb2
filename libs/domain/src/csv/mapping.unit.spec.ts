import type { WorkflowInput } from '../workflow/workflow';
import fc from 'fast-check';
import { csvRowOrigin, itemProblems } from '../batch/item-rules';
import {
  mapColumns,
  mappingShapeProblems,
  mapRow,
  normalizeName,
  PreviewBuilder,
  rowMapper,
  validateMapping,
  type MappingRequest,
} from './mapping';
import { parseCsvText } from './parse';
import { RuleViolation } from '../shared/errors';

const inputs: WorkflowInput[] = [
  { name: 'email', required: true },
  { name: 'first_name', required: true },
  { name: 'company', required: false },
];
const workflow = { workflowId: 'crm', version: 1, inputs };

const check = (headers: string[], request: MappingRequest = {}) =>
  validateMapping(headers, mapColumns(headers, inputs, request), inputs, request);

describe('auto-mapping', () => {
  it('maps a header to the input it equals, ignoring case, whitespace runs read as _', () => {
    expect(normalizeName('First   Name')).toBe('first_name');
    expect(normalizeName('\tEMAIL ')).toBe('email');
    const columns = mapColumns(['EMAIL', 'First Name', 'Company', 'notes'], inputs);
    expect(columns.map((column) => column.mapping)).toEqual([
      { type: 'input', field: 'email' },
      { type: 'input', field: 'first_name' },
      { type: 'input', field: 'company' },
      { type: 'skip' },
    ]);
    expect(columns.every((column) => column.auto)).toBe(true);
  });

  it('does not map near misses', () => {
    expect(mapColumns(['e-mail', 'firstname', 'first__name'], inputs).map((column) => column.mapping.type)).toEqual([
      'skip',
      'skip',
      'skip',
    ]);
  });

  it('an explicit mapping wins over auto-mapping, other headers are still auto-mapped', () => {
    const columns = mapColumns(['Email', 'who', 'tier', 'account'], inputs, {
      who: { type: 'input', field: 'first_name' },
      tier: { type: 'profile' },
      account: { type: 'metadata', key: 'accountId' },
    });
    expect(columns.map((column) => [column.mapping, column.auto])).toEqual([
      [{ type: 'input', field: 'email' }, true],
      [{ type: 'input', field: 'first_name' }, false],
      [{ type: 'profile' }, false],
      [{ type: 'metadata', key: 'accountId' }, false],
    ]);
  });
});

describe('mapping rules', () => {
  it('accepts a complete mapping', () => {
    expect(check(['email', 'first name'])).toEqual([]);
  });

  it('every required input is mapped', () => {
    expect(check(['email', 'company'])).toEqual([
      { code: 'required_input_unmapped', field: 'first_name', message: 'Required input "first_name" is not mapped to any column' },
    ]);
  });

  it('no two columns map to the same field', () => {
    expect(check(['email', 'first_name', 'mail'], { mail: { type: 'input', field: 'email' } })).toEqual([
      { code: 'duplicate_mapping', column: 'mail', field: 'email', message: 'Columns "email" and "mail" both map to input "email"' },
    ]);
    expect(check(['email', 'first_name', 'p1', 'p2'], { p1: { type: 'profile' }, p2: { type: 'profile' } })).toEqual([
      { code: 'duplicate_mapping', column: 'p2', message: 'Columns "p1" and "p2" both map to the profile' },
    ]);
    expect(check(['email', 'first_name', 'a', 'b'], { a: { type: 'metadata', key: 'k' }, b: { type: 'metadata', key: 'k' } })).toEqual([
      { code: 'duplicate_mapping', column: 'b', message: 'Columns "a" and "b" both map to metadata key "k"' },
    ]);
  });

  it('at least one column is not skipped', () => {
    const optionalOnly: WorkflowInput[] = [{ name: 'note', required: false }];
    const headers = ['x', 'y'];
    expect(validateMapping(headers, mapColumns(headers, optionalOnly), optionalOnly)).toEqual([
      { code: 'all_columns_skipped', message: 'At least one column must be mapped; every column is skipped' },
    ]);
  });

  it('metadata columns have a key', () => {
    expect(check(['email', 'first_name', 'ref'], { ref: { type: 'metadata', key: ' ' } })).toEqual([
      { code: 'metadata_key_missing', column: 'ref', message: 'Column "ref" maps to metadata but has no key' },
    ]);
  });

  it('a mapping may only name inputs the workflow has and headers the file has', () => {
    expect(check(['email', 'first_name', 'x'], { x: { type: 'input', field: 'phone' }, ghost: { type: 'metadata', key: 'g' } })).toEqual([
      { code: 'unknown_column', column: 'ghost', message: 'The mapping names column "ghost", which is not in the CSV header' },
      { code: 'unknown_input', column: 'x', field: 'phone', message: 'Column "x" maps to input "phone", which the workflow does not have' },
    ]);
  });

  it('a skip of a column the file does not have is no problem (an export leaves skipped columns out)', () => {
    expect(check(['email', 'first_name'], { ghost: { type: 'skip' } })).toEqual([]);
  });

  it('a header may not name two columns', () => {
    expect(check(['email', 'first_name', 'email'])).toContainEqual({
      code: 'duplicate_header',
      column: 'email',
      message: 'The header has two columns named "email"',
    });
  });
});

describe('row rules', () => {
  const columns = mapColumns(['email', 'first_name', 'tier', 'ref'], inputs, {
    tier: { type: 'profile' },
    ref: { type: 'metadata', key: 'ref' },
  });

  it('maps values to inputs, profile and metadata', () => {
    expect(mapRow(['a@x.io', 'Ann', 'gold', 'R1'], 0, columns, workflow)).toEqual({
      index: 0,
      inputs: { email: 'a@x.io', first_name: 'Ann' },
      profile: 'gold',
      metadata: { ref: 'R1' },
      valid: true,
      errors: [],
    });
  });

  it('an empty profile cell means the default profile', () => {
    expect(mapRow(['a@x.io', 'Ann', ' ', 'R1'], 0, columns, workflow).profile).toBeNull();
  });

  it('every row has the header column count', () => {
    expect(mapRow(['a@x.io', 'Ann', 'gold'], 4, columns, workflow).errors).toEqual([
      { code: 'column_count', row: 5, message: 'Row 5 has 3 columns; the header has 4' },
    ]);
    expect(mapRow(['a@x.io', 'Ann', 'gold', 'R1', 'extra'], 0, columns, workflow).errors[0]?.message).toBe(
      'Row 1 has 5 columns; the header has 4',
    );
  });

  it('required inputs are non-empty', () => {
    const row = mapRow(['', '  ', 'gold', 'R1'], 2, columns, workflow);
    expect(row.valid).toBe(false);
    expect(row.errors).toEqual([
      { code: 'required_input_empty', row: 3, field: 'email', message: 'Row 3: required input "email" is empty' },
      { code: 'required_input_empty', row: 3, field: 'first_name', message: 'Row 3: required input "first_name" is empty' },
    ]);
  });

  it('optional inputs may be empty', () => {
    const cols = mapColumns(['email', 'first_name', 'company'], inputs);
    expect(mapRow(['a@x.io', 'Ann', ''], 0, cols, workflow).valid).toBe(true);
  });
});

describe('preview', () => {
  it('gives the first 10 rows mapped and validated, with counts over the whole file', () => {
    const lines = ['Email,First Name,notes'];
    for (let i = 0; i < 25; i++) lines.push(i % 5 === 0 ? `,Name${i},n` : `user${i}@x.io,Name${i},n`);
    const { headers, rows } = parseCsvText(lines.join('\n') + '\n');
    const preview = new PreviewBuilder(headers, workflow);
    rows.forEach((row) => preview.add(row));
    const result = preview.result();
    expect(result.columns).toEqual(['Email', 'First Name', 'notes']);
    expect(result.mapping).toEqual({
      Email: { type: 'input', field: 'email' },
      'First Name': { type: 'input', field: 'first_name' },
      notes: { type: 'skip' },
    });
    expect(result.mappingErrors).toEqual([]);
    expect(result.rows).toHaveLength(10);
    expect(result.rows[0]).toMatchObject({ index: 0, valid: false, inputs: { email: '', first_name: 'Name0' } });
    expect(result.rows[1]).toMatchObject({ index: 1, valid: true, inputs: { email: 'user1@x.io', first_name: 'Name1' } });
    expect([result.totalRows, result.validRows, result.invalidRows]).toEqual([25, 20, 5]);
  });

  it('reports mapping errors beside the rows', () => {
    const preview = new PreviewBuilder(['email'], workflow);
    preview.add(['a@x.io']);
    expect(preview.result().mappingErrors.map((problem) => problem.code)).toEqual(['required_input_unmapped']);
  });
});

describe('the shape of a mapping as sent', () => {
  it('accepts every kind of column mapping', () => {
    expect(
      mappingShapeProblems({
        a: { type: 'input', field: 'email' },
        b: { type: 'profile' },
        c: { type: 'metadata', key: 'k' },
        d: { type: 'skip' },
        e: { type: 'metadata' },
      }),
    ).toEqual([]);
  });

  it('names the entry that is not an object, or has an unknown type or a field or key that is not a string', () => {
    expect(mappingShapeProblems(null)).toEqual([
      { code: 'invalid_mapping', field: 'mapping', message: 'mapping must be a JSON object of column header -> { "type": ... }' },
    ]);
    expect(mappingShapeProblems([], 'config.mapping').map((problem) => problem.field)).toEqual(['config.mapping']);
    expect(mappingShapeProblems({ n: null, m: [], s: 'input' }).map((problem) => problem.message)).toEqual([
      'mapping.n must be an object like { "type": "input", "field": "email" }',
      'mapping.m must be an object like { "type": "input", "field": "email" }',
      'mapping.s must be an object like { "type": "input", "field": "email" }',
    ]);
    expect(
      mappingShapeProblems({ a: {}, b: { type: 'bogus' }, c: { type: 'input', field: 5 }, d: { type: 'metadata', key: null } }),
    ).toEqual([
      { code: 'invalid_mapping', field: 'mapping.a.type', message: 'mapping.a.type must be one of input, profile, metadata, skip' },
      { code: 'invalid_mapping', field: 'mapping.b.type', message: 'mapping.b.type must be one of input, profile, metadata, skip' },
      { code: 'invalid_mapping', field: 'mapping.c.field', message: 'mapping.c.field must be a string' },
      { code: 'invalid_mapping', field: 'mapping.d.key', message: 'mapping.d.key must be a string' },
    ]);
  });

  it('a column mapped to an input must name it', () => {
    expect(check(['email', 'first_name', 'x'], { x: { type: 'input' } as unknown as MappingRequest[string] })).toEqual([
      { code: 'input_field_missing', column: 'x', message: 'Column "x" maps to an input but names none (field)' },
    ]);
  });
});

describe('names that are also Object.prototype names', () => {
  const special: WorkflowInput[] = [
    { name: '__proto__', required: true },
    { name: 'constructor', required: true },
    { name: 'toString', required: true },
  ];

  it('are plain data: each maps, is kept as an own property and is checked for emptiness', () => {
    const headers = ['__proto__', 'constructor', 'toString', 'meta'];
    const columns = mapColumns(headers, special, { meta: { type: 'metadata', key: '__proto__' } });
    expect(validateMapping(headers, columns, special)).toEqual([]);
    const row = mapRow(['p', 'c', 't', 'm'], 0, columns, { workflowId: 'special', version: 1, inputs: special });
    expect(row.valid).toBe(true);
    expect(JSON.stringify(row.inputs)).toBe('{"__proto__":"p","constructor":"c","toString":"t"}');
    expect(JSON.stringify(row.metadata)).toBe('{"__proto__":"m"}');
    expect(Object.getPrototypeOf(row.inputs)).toBe(Object.prototype);
    expect(row.errors).toEqual([]);
  });

  it('an unmapped one is empty, not the prototype property of the same name', () => {
    const row = mapRow(['c'], 0, mapColumns(['constructor'], special), { workflowId: 'special', version: 1, inputs: special });
    expect(row.errors.map((problem) => problem.field)).toEqual(['__proto__', 'toString']);
  });
});

describe('parsing', () => {
  it('requires a header row', () => {
    expect(() => parseCsvText('')).toThrow(RuleViolation);
    expect(() => parseCsvText('\n\n')).toThrow('The CSV file is empty: a header row is required');
  });

  it('keeps quoted commas and newlines inside a cell, and ignores blank lines', () => {
    expect(parseCsvText('a,b\n"x, y","line1\nline2"\n\n1,2\n')).toEqual({
      headers: ['a', 'b'],
      rows: [
        ['x, y', 'line1\nline2'],
        ['1', '2'],
      ],
    });
  });
});

describe('the rows of a whole file (rowMapper)', () => {
  // The mapper skips encoding an item whose JSON is bounded under the metadata limit: the bound
  // must hold for any text, and the rows must come out as the item rules say, at any size.
  const headers = ['email', 'First Name', 'Company', 'Note', 'Customer ID', 'profile'];
  const request: MappingRequest = {
    Company: { type: 'metadata', key: 'company' },
    'Customer ID': { type: 'metadata', key: '__proto__' },
    Note: { type: 'skip' },
    profile: { type: 'profile' },
  };
  const columns = mapColumns(headers, inputs, request);
  const mapper = rowMapper(columns, workflow);
  const cell = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom('', ' ', '"', '\\', '\u0000', '\ud800', '😀'),
    // Long cells, near and over the 16 KiB and 64 KiB limits once encoded.
    fc.tuple(fc.constantFrom('x', '€', '\u0001', '"'), fc.integer({ min: 2_000, max: 30_000 })).map(([char, n]) => char.repeat(n)),
  );

  it('map and check every row as the item rules do one item', () => {
    fc.assert(
      fc.property(fc.array(cell, { minLength: 5, maxLength: 7 }), fc.nat(10_000), (cells, index) => {
        const own = (pairs: [string, string][]) => {
          const record: Record<string, string> = {};
          for (const [key, value] of pairs)
            Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
          return record;
        };
        const values = own([
          ['email', cells[0] ?? ''],
          ['first_name', cells[1] ?? ''],
        ]);
        const metadata = own([
          ['company', cells[2] ?? ''],
          ['__proto__', cells[4] ?? ''],
        ]);
        const profile = (cells[5] ?? '').trim() === '' ? null : (cells[5] ?? '').trim();
        const countProblem =
          cells.length === headers.length
            ? []
            : [{ code: 'column_count', row: index + 1, message: `Row ${index + 1} has ${cells.length} columns; the header has 6` }];
        const errors = [...countProblem, ...itemProblems({ inputs: values, profile, metadata }, workflow, csvRowOrigin(index))];
        const row = mapper(cells, index);
        expect(row).toEqual({ index, inputs: values, profile, metadata, valid: errors.length === 0, errors });
        expect(Object.getPrototypeOf(row.metadata)).toBe(Object.prototype);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a row whose metadata or whole item is over its limit', () => {
    const row = mapper(['a@x.io', 'Ann', '€'.repeat(6_000), '', 'C-1', ''], 4);
    expect(row.errors.map((problem) => problem.code)).toEqual(['metadata_too_large']);
    expect(mapper(['a@x.io', 'x'.repeat(70_000), '', '', '', ''], 0).errors.map((problem) => problem.code)).toEqual(['item_too_large']);
  });
});
