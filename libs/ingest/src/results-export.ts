import type { Writable } from 'node:stream';
import type { BatchSource, ExecutionState, WorkflowInput } from '@flotilla/domain';
import { IsoTimes, executionResultJson, toExecutionResult, type BatchResults, type ExecutionResult } from '@flotilla/projections';
import Papa from 'papaparse';
import type { ResultFormat } from './dto';

/** Rows read from the read model per page: large enough to amortise the query, small enough to bound memory. */
export const RESULTS_PAGE_ROWS = 1000;
/** Rows per string written to the response. */
const PIECE_ROWS = 100;

/**
 * Cells a spreadsheet would evaluate (a formula, or the characters that start one) get a leading `'`.
 * papaparse's own default pattern ends in `.*$` without the `s` flag, so it misses such a cell when
 * it holds a line break: the pattern here looks only at the first character.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export const RESULT_CONTENT_TYPES: Record<ResultFormat, string> = {
  csv: 'text/csv',
  json: 'application/json',
  jsonl: 'application/x-ndjson',
};

/** `<name>-results.<ext>`, or `-failed` for the failed rows, with every character a file name could trip on replaced. */
export const resultsFileName = (batchName: string, format: ResultFormat, status: ExecutionState | undefined): string => {
  const safe =
    batchName
      .normalize('NFKD')
      // The accents NFKD split off go, so "Été" is "Ete".
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^[._]+|_+$/g, '')
      .slice(0, 100) || 'batch';
  return `${safe}-${status === 'failed' ? 'failed' : 'results'}.${format}`;
};

interface CsvColumn {
  readonly header: string;
  readonly cell: (result: ExecutionResult) => unknown;
}

/**
 * The CSV columns: a CSV batch's mapped columns under their original headers and in their order
 * (so the file can be uploaded again with the same mapping); a JSON batch's workflow inputs,
 * `profile` and `metadata.<key>` per key seen; then always status, output, error and attempts.
 */
export const csvColumns = (source: BatchSource | null, inputs: readonly WorkflowInput[], metadataKeys: readonly string[]): CsvColumn[] => {
  const given: CsvColumn[] = source
    ? source.columns.map(({ header, mapping }) => ({
        header,
        cell:
          mapping.type === 'input'
            ? (result) => result.inputs[mapping.field]
            : mapping.type === 'profile'
              ? (result) => result.profile
              : (result) => result.metadata[mapping.key],
      }))
    : [
        ...inputs.map(({ name }) => ({ header: name, cell: (result: ExecutionResult) => result.inputs[name] })),
        { header: 'profile', cell: (result: ExecutionResult) => result.profile },
        ...metadataKeys.map((key) => ({ header: `metadata.${key}`, cell: (result: ExecutionResult) => result.metadata[key] })),
      ];
  return [
    ...given,
    { header: 'status', cell: (result) => result.status },
    { header: 'output', cell: (result) => (result.status === 'completed' ? JSON.stringify(result.output) : null) },
    { header: 'error', cell: (result) => result.error },
    { header: 'attempts', cell: (result) => result.attempts },
  ];
};

/** Strings stay as they are (CSV metadata is strings), numbers and booleans as written, anything else as its JSON text. */
const cellText = (value: unknown): string | number | boolean => {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
};

const csvLines = (rows: unknown[][]): string =>
  `${Papa.unparse(rows, { header: false, newline: '\r\n', escapeFormulae: FORMULA_START })}\r\n`;

/** The body of an export, in pieces of one page each, written as they are read. */
export async function* resultChunks(
  results: BatchResults,
  batchId: string,
  format: ResultFormat,
  status: ExecutionState | undefined,
  columns: () => CsvColumn[],
): AsyncGenerator<string> {
  const csv = format === 'csv' ? columns() : null;
  if (csv) yield csvLines([csv.map((column) => column.header)]);
  if (format === 'json') yield '[';
  const times = new IsoTimes();
  let after = -1;
  let first = true;
  for (;;) {
    const page = results.page(batchId, { after, limit: RESULTS_PAGE_ROWS, ...(status ? { status } : {}) });
    if (page.length === 0) break;
    // Pieces of at most PIECE_ROWS rows: a page's text in one string would be large enough for
    // V8's large-object space, which only a full GC frees, and the heap would grow through the export.
    for (let from = 0; from < page.length; from += PIECE_ROWS) {
      const rows = page.slice(from, from + PIECE_ROWS);
      if (csv) {
        yield csvLines(
          rows.map((row) => {
            const result = toExecutionResult(batchId, row, times);
            return csv.map((column) => cellText(column.cell(result)));
          }),
        );
      } else {
        const body = rows.map((row) => executionResultJson(batchId, row, times));
        yield format === 'jsonl' ? `${body.join('\n')}\n` : `${first ? '' : ','}${body.join(',')}`;
        first = false;
      }
    }
    after = page[page.length - 1]?.[0] ?? after;
    if (page.length < RESULTS_PAGE_ROWS) break;
  }
  if (format === 'json') yield ']';
}

/** Resolves when `out` wants more, or is gone; leaves no listener behind either way. */
const drained = (out: Writable): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });

/**
 * Writes the chunks to `out` as the client takes them (awaits `drain`), and stops reading the read
 * model as soon as the client goes away.
 */
export const writeWithBackpressure = async (out: Writable, chunks: AsyncIterable<string>): Promise<void> => {
  for await (const chunk of chunks) {
    if (out.destroyed) return;
    if (!out.write(chunk)) await drained(out);
  }
  if (!out.destroyed) out.end();
};
