// Reads a CSV in the browser, as the API will: the header, the first rows for the mapping step, and
// over the whole file (streamed in chunks, never held in memory) the row count and the column-count check.
import { CSV_PARSE_OPTIONS, MAX_MAPPED_COLUMNS } from '@flotilla/domain';
import Papa from 'papaparse';

/** Rows kept for the mapping step's sample. */
export const SAMPLE_ROWS = 5;
/** Rows of a wrong width listed by number; the rest are only counted. */
export const LISTED_ROWS = 20;

export interface CsvCheck {
  readonly headers: string[];
  readonly sample: string[][];
  /** Data rows (the header not counted; blank lines ignored). */
  readonly totalRows: number;
  /** 1-based data row numbers whose column count differs from the header's (the first LISTED_ROWS). */
  readonly badRows: { row: number; columns: number }[];
  readonly badRowCount: number;
  /** What makes the file unusable: empty, no header, more than MAX_MAPPED_COLUMNS columns. */
  readonly fatal: string[];
}

export const checkCsv = (file: File): Promise<CsvCheck> =>
  new Promise((resolve, reject) => {
    let headers: string[] | null = null;
    const sample: string[][] = [];
    const badRows: { row: number; columns: number }[] = [];
    let badRowCount = 0;
    let totalRows = 0;
    const take = (rows: string[][]): void => {
      for (const cells of rows) {
        if (headers === null) {
          headers = cells;
          continue;
        }
        totalRows++;
        if (sample.length < SAMPLE_ROWS) sample.push(cells);
        if (cells.length !== headers.length) {
          badRowCount++;
          if (badRows.length < LISTED_ROWS) badRows.push({ row: totalRows, columns: cells.length });
        }
      }
    };
    Papa.parse<string[]>(file, {
      ...CSV_PARSE_OPTIONS,
      chunk: (results) => take(results.data),
      complete: () => {
        const fatal: string[] = [];
        const found: string[] = headers ?? [];
        if (headers === null) fatal.push('The CSV file is empty: a header row is required');
        else if (found.length > MAX_MAPPED_COLUMNS)
          fatal.push(`The header has ${found.length} columns; a CSV may have at most ${MAX_MAPPED_COLUMNS}`);
        else if (totalRows === 0) fatal.push('The CSV file has a header row but no data rows');
        resolve({ headers: found, sample, totalRows, badRows, badRowCount, fatal });
      },
      error: (error: Error) => reject(error),
    });
  });

/** The text of a column-count problem, as the API words it. */
export const badRowMessage = (row: number, columns: number, headerColumns: number): string =>
  `Row ${row} has ${columns} ${columns === 1 ? 'column' : 'columns'}; the header has ${headerColumns}`;

export interface JsonItemsCheck {
  readonly items: unknown[] | null;
  readonly problems: string[];
}

/** A pasted JSON array of items `{ inputs: {...}, profile?, metadata? }`, checked for shape before the API checks the rest. */
export const checkJsonItems = (text: string): JsonItemsCheck => {
  if (text.trim() === '') return { items: null, problems: ['Paste a JSON array of items'] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { items: null, problems: [`Not valid JSON: ${error instanceof Error ? error.message : String(error)}`] };
  }
  if (!Array.isArray(parsed)) return { items: null, problems: ['The JSON must be an array of items'] };
  if (parsed.length === 0) return { items: null, problems: ['The array must hold at least one item'] };
  const problems: string[] = [];
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  parsed.forEach((item: unknown, index) => {
    if (problems.length >= LISTED_ROWS) return;
    if (!isObject(item)) problems.push(`items[${index}] must be an object like { "inputs": { ... } }`);
    else if (!isObject(item['inputs'])) problems.push(`items[${index}].inputs must be an object`);
  });
  return { items: problems.length === 0 ? parsed : null, problems };
};
