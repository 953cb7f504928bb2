import {
  JSON_BYTES_PER_CHAR,
  MAX_ITEM_METADATA_BYTES,
  csvRowOrigin,
  itemInputRules,
  itemSizeProblems,
  type ItemWorkflow,
} from '../batch/item-rules';
import type { Problem } from '../shared/errors';
import type { WorkflowInput } from '../workflow/workflow';

/**
 * Column mapping for CSV batches. Each CSV column maps to one of: an input variable of the
 * workflow, the profile of the row (overriding the batch's default profile), a metadata key, or
 * nothing (skip). Pure functions over parsed rows: parsing itself happens at the edge.
 */
export type ColumnMapping =
  | { readonly type: 'input'; readonly field: string }
  | { readonly type: 'profile' }
  | { readonly type: 'metadata'; readonly key: string }
  | { readonly type: 'skip' };

/** An explicit mapping by header name; headers not named are auto-mapped. */
export type MappingRequest = Readonly<Record<string, ColumnMapping>>;

export interface MappedColumn {
  readonly index: number;
  readonly header: string;
  readonly mapping: ColumnMapping;
  /** True when the mapping came from auto-mapping rather than the request. */
  readonly auto: boolean;
}

const MAPPING_TYPES: readonly ColumnMapping['type'][] = ['input', 'profile', 'metadata', 'skip'];

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The shape of a mapping as a client sent it (parsed JSON): an object whose every value is an
 * object with a known `type`, and a string `field` or `key` where there is one. Empty when `raw`
 * is a MappingRequest; the rules about what the names point at are `validateMapping`'s.
 */
export const mappingShapeProblems = (raw: unknown, field = 'mapping'): Problem[] => {
  const problem = (at: string, message: string): Problem => ({ code: 'invalid_mapping', field: at, message });
  if (!isRecord(raw)) return [problem(field, `${field} must be a JSON object of column header -> { "type": ... }`)];
  const problems: Problem[] = [];
  for (const [header, mapping] of Object.entries(raw)) {
    const at = `${field}.${header}`;
    if (!isRecord(mapping)) {
      problems.push(problem(at, `${at} must be an object like { "type": "input", "field": "email" }`));
      continue;
    }
    if (typeof mapping['type'] !== 'string' || !(MAPPING_TYPES as readonly string[]).includes(mapping['type'])) {
      problems.push(problem(`${at}.type`, `${at}.type must be one of ${MAPPING_TYPES.join(', ')}`));
    }
    for (const name of ['field', 'key']) {
      if (mapping[name] !== undefined && typeof mapping[name] !== 'string')
        problems.push(problem(`${at}.${name}`, `${at}.${name} must be a string`));
    }
  }
  return problems;
};

/** Most columns a CSV may have (the upload refuses more), and so a saved mapping. */
export const MAX_MAPPED_COLUMNS = 1000;
/** Longest header a saved mapping may name. */
export const MAX_HEADER_LENGTH = 1000;

/** A set of headers as saved mappings are keyed: each header once, sorted, so column order does not matter. */
export const columnSetOf = (headers: readonly string[]): string[] => [...new Set(headers)].sort();

/**
 * What is wrong with a mapping to save for a set of headers: `headers` must be 1 to
 * MAX_MAPPED_COLUMNS strings, the mapping of the shape `mappingShapeProblems` checks, and every
 * header it names one of `headers`. Whether it fits a workflow version is checked when a batch uses it.
 */
export const savedMappingProblems = (headers: unknown, mapping: unknown): Problem[] => {
  const problem = (field: string, message: string): Problem => ({ code: 'invalid_mapping', field, message });
  if (
    !Array.isArray(headers) ||
    headers.length === 0 ||
    headers.length > MAX_MAPPED_COLUMNS ||
    headers.some((header) => typeof header !== 'string' || header.length > MAX_HEADER_LENGTH)
  ) {
    return [
      problem(
        'headers',
        `headers must be an array of 1 to ${MAX_MAPPED_COLUMNS} column headers, each a string of at most ${MAX_HEADER_LENGTH} characters`,
      ),
    ];
  }
  const problems = mappingShapeProblems(mapping);
  if (problems.length > 0) return problems;
  const known = new Set(headers as string[]);
  return Object.keys(mapping as object)
    .filter((header) => !known.has(header))
    .map((header) => problem(`mapping.${header}`, `mapping.${header} names a column that is not in headers`));
};

/** Header and input names compare equal ignoring case, with runs of whitespace read as `_`. */
export const normalizeName = (name: string): string => name.trim().replace(/\s+/g, '_').toLowerCase();

/** Maps every column: explicitly when the request names its header, else to the input it matches, else skip. */
export const mapColumns = (headers: readonly string[], inputs: readonly WorkflowInput[], request: MappingRequest = {}): MappedColumn[] => {
  const inputByName = new Map(inputs.map((input) => [normalizeName(input.name), input.name]));
  return headers.map((header, index) => {
    const explicit = Object.prototype.hasOwnProperty.call(request, header) ? request[header] : undefined;
    if (explicit !== undefined) return { index, header, mapping: explicit, auto: false };
    const field = header.trim() === '' ? undefined : inputByName.get(normalizeName(header));
    return { index, header, mapping: field === undefined ? { type: 'skip' } : { type: 'input', field }, auto: true };
  });
};

const describeTarget = (mapping: ColumnMapping): string => {
  switch (mapping.type) {
    case 'input':
      return `input "${mapping.field}"`;
    case 'profile':
      return 'the profile';
    case 'metadata':
      return `metadata key "${mapping.key}"`;
    case 'skip':
      return 'nothing';
  }
};

const targetKey = (mapping: ColumnMapping): string | null => {
  switch (mapping.type) {
    case 'input':
      return `input:${mapping.field}`;
    case 'profile':
      return 'profile';
    case 'metadata':
      return `metadata:${mapping.key}`;
    case 'skip':
      return null;
  }
};

/**
 * The mapping rules: the header is usable, every column maps somewhere that exists, every required
 * input is mapped, no two columns map to the same field, at least one column is not skipped, and
 * metadata columns have a key.
 */
export const validateMapping = (
  headers: readonly string[],
  columns: readonly MappedColumn[],
  inputs: readonly WorkflowInput[],
  request: MappingRequest = {},
): Problem[] => {
  const problems: Problem[] = [];
  const seenHeaders = new Set<string>();
  for (const header of headers) {
    if (header.trim() !== '' && seenHeaders.has(header)) {
      problems.push({ code: 'duplicate_header', column: header, message: `The header has two columns named "${header}"` });
    }
    seenHeaders.add(header);
  }
  for (const [header, mapping] of Object.entries(request)) {
    // A skip asks nothing of the file: the same mapping then fits an export of the batch, which leaves skipped columns out.
    if (!seenHeaders.has(header) && mapping.type !== 'skip') {
      problems.push({
        code: 'unknown_column',
        column: header,
        message: `The mapping names column "${header}", which is not in the CSV header`,
      });
    }
  }
  const inputNames = new Set(inputs.map((input) => input.name));
  const claimedBy = new Map<string, string>();
  for (const column of columns) {
    const { mapping, header } = column;
    if (mapping.type === 'input' && typeof mapping.field !== 'string') {
      problems.push({ code: 'input_field_missing', column: header, message: `Column "${header}" maps to an input but names none (field)` });
      continue;
    }
    if (mapping.type === 'input' && !inputNames.has(mapping.field)) {
      problems.push({
        code: 'unknown_input',
        column: header,
        field: mapping.field,
        message: `Column "${header}" maps to input "${mapping.field}", which the workflow does not have`,
      });
    }
    if (mapping.type === 'metadata' && (typeof mapping.key !== 'string' || mapping.key.trim() === '')) {
      problems.push({ code: 'metadata_key_missing', column: header, message: `Column "${header}" maps to metadata but has no key` });
      continue;
    }
    const key = targetKey(mapping);
    if (key === null) continue;
    const first = claimedBy.get(key);
    if (first !== undefined) {
      problems.push({
        code: 'duplicate_mapping',
        column: header,
        ...(mapping.type === 'input' ? { field: mapping.field } : {}),
        message: `Columns "${first}" and "${header}" both map to ${describeTarget(mapping)}`,
      });
    } else {
      claimedBy.set(key, header);
    }
  }
  for (const input of inputs) {
    if (input.required && !claimedBy.has(`input:${input.name}`)) {
      problems.push({
        code: 'required_input_unmapped',
        field: input.name,
        message: `Required input "${input.name}" is not mapped to any column`,
      });
    }
  }
  if (columns.length > 0 && columns.every((column) => column.mapping.type === 'skip')) {
    problems.push({ code: 'all_columns_skipped', message: 'At least one column must be mapped; every column is skipped' });
  }
  return problems;
};

export interface MappedRow {
  /** 0-based index of the row among the data rows. */
  readonly index: number;
  readonly inputs: Record<string, string>;
  readonly profile: string | null;
  readonly metadata: Record<string, string>;
  readonly valid: boolean;
  readonly errors: Problem[];
}

/**
 * Maps one data row and checks it: it has as many cells as the header (the one rule of CSV rows
 * alone), then the mapped item passes the item rules every batch item passes (`itemProblems`).
 * `index` is 0-based; problems name the 1-based row number. For many rows, `rowMapper` once.
 */
export const mapRow = (cells: readonly string[], index: number, columns: readonly MappedColumn[], workflow: ItemWorkflow): MappedRow =>
  rowMapper(columns, workflow)(cells, index);

/**
 * `mapRow` for the rows of one file: what the columns and the workflow ask of each row (where each
 * cell goes, the set of declared inputs) is worked out once, not again for each of a million rows.
 */
export const rowMapper = (
  columns: readonly MappedColumn[],
  workflow: ItemWorkflow,
): ((cells: readonly string[], index: number) => MappedRow) => {
  const inputRules = itemInputRules(workflow);
  const inputs = placements(columns, 'input');
  const metadata = placements(columns, 'metadata');
  // The last profile column wins, as when each column was set in turn (a valid mapping has one at most).
  const profileIndex = columns.findLast((column) => column.mapping.type === 'profile')?.index;
  // The item's JSON, `{"inputs":{…},"profile":…,"metadata":{…}}`, is at most this much around its
  // values: its own keys and punctuation, then for each mapped cell its key, quotes, colon and comma.
  let keyBytes = 64;
  for (const { key } of [...inputs, ...metadata]) keyBytes += JSON_BYTES_PER_CHAR * key.length + 6;
  const mapped = [...inputs, ...metadata].map(({ index }) => index);
  if (profileIndex !== undefined) mapped.push(profileIndex);
  return (cells, index) => {
    const row = index + 1;
    const values = fill(inputs, cells);
    const rawProfile = profileIndex === undefined ? undefined : (cells[profileIndex] ?? '').trim();
    const profile = rawProfile === undefined || rawProfile === '' ? null : rawProfile;
    const meta = fill(metadata, cells);
    const item = { inputs: values, profile, metadata: meta };
    const origin = csvRowOrigin(index);
    const errors = inputRules(item, origin);
    // Every value is a string, so a bound on the item's JSON is cheap; when it is within the
    // smaller limit neither size rule can fail and the item is not encoded here at all.
    let valueChars = 0;
    for (const at of mapped) valueChars += cells[at]?.length ?? 0;
    if (keyBytes + JSON_BYTES_PER_CHAR * valueChars > MAX_ITEM_METADATA_BYTES) errors.push(...itemSizeProblems(item, origin));
    if (cells.length !== columns.length) {
      errors.unshift({
        code: 'column_count',
        row,
        message: `Row ${row} has ${cells.length} ${cells.length === 1 ? 'column' : 'columns'}; the header has ${columns.length}`,
      });
    }
    return { index, inputs: values, profile, metadata: meta, valid: errors.length === 0, errors };
  };
};

/** Where the cells of the columns mapped to `type` go: their index, the key, and how to set it. */
interface Placement {
  readonly index: number;
  readonly key: string;
  /** False for a key that names something of Object.prototype (`__proto__`): it is defined, not assigned. */
  readonly assignable: boolean;
}

const placements = (columns: readonly MappedColumn[], type: 'input' | 'metadata'): Placement[] =>
  columns.flatMap(({ index, mapping }) => {
    if (mapping.type !== type) return [];
    // A broken mapping (no field or key) still maps in a preview, under the name `undefined`, as before.
    const key = String(mapping.type === 'input' ? mapping.field : mapping.type === 'metadata' ? mapping.key : '');
    return [{ index, key, assignable: !(key in Object.prototype) }];
  });

const fill = (placed: readonly Placement[], cells: readonly string[]): Record<string, string> => {
  const record: Record<string, string> = {};
  for (const { index, key, assignable } of placed) {
    const value = cells[index] ?? '';
    if (assignable) record[key] = value;
    else put(record, key, value);
  }
  return record;
};

/**
 * Sets an own property whatever its name: input names and metadata keys come from clients, and
 * `record['__proto__'] = value` would set the prototype (or do nothing) instead of keeping the data.
 */
const put = (record: Record<string, string>, key: string, value: string): void => {
  Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
};

export const PREVIEW_ROWS = 10;

export interface CsvPreview {
  readonly columns: readonly string[];
  readonly mapping: Record<string, ColumnMapping>;
  readonly mappingErrors: readonly Problem[];
  readonly rows: readonly MappedRow[];
  readonly totalRows: number;
  readonly validRows: number;
  readonly invalidRows: number;
}

/**
 * Builds a preview one row at a time, so a file of any size is previewed in constant memory:
 * the first ten rows in full, counts over all of them.
 */
export class PreviewBuilder {
  private readonly columns: MappedColumn[];
  private readonly mappingErrors: Problem[];
  private readonly mapRow: (cells: readonly string[], index: number) => MappedRow;
  private readonly rows: MappedRow[] = [];
  private totalRows = 0;
  private validRows = 0;

  constructor(
    private readonly headers: readonly string[],
    workflow: ItemWorkflow,
    request: MappingRequest = {},
  ) {
    this.columns = mapColumns(headers, workflow.inputs, request);
    this.mappingErrors = validateMapping(headers, this.columns, workflow.inputs, request);
    this.mapRow = rowMapper(this.columns, workflow);
  }

  add(cells: readonly string[]): MappedRow {
    const mapped = this.mapRow(cells, this.totalRows);
    this.totalRows++;
    if (mapped.valid) this.validRows++;
    if (this.rows.length < PREVIEW_ROWS) this.rows.push(mapped);
    return mapped;
  }

  result(): CsvPreview {
    return {
      columns: [...this.headers],
      mapping: Object.fromEntries(this.columns.map((column) => [column.header, column.mapping])),
      mappingErrors: this.mappingErrors,
      rows: this.rows,
      totalRows: this.totalRows,
      validRows: this.validRows,
      invalidRows: this.totalRows - this.validRows,
    };
  }
}
