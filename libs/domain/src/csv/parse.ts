import Papa from 'papaparse';
import { RuleViolation } from '../shared/errors';

export interface ParsedCsv {
  readonly headers: string[];
  readonly rows: string[][];
}

/**
 * Parses a whole CSV text (for small files and tests; large uploads are parsed as a stream at the
 * edge with the same options). A header row is required; blank lines are ignored.
 */
export const parseCsvText = (text: string): ParsedCsv => {
  const result = Papa.parse<string[]>(text, CSV_PARSE_OPTIONS);
  const [headers, ...rows] = result.data;
  if (headers === undefined) throw emptyCsv();
  return { headers, rows };
};

/** The papaparse options shared by every parse of an uploaded CSV. */
export const CSV_PARSE_OPTIONS = { header: false, skipEmptyLines: 'greedy', dynamicTyping: false } as const;

export const emptyCsv = (): RuleViolation =>
  new RuleViolation('The CSV file is empty: a header row is required', [
    { code: 'csv_empty', message: 'The CSV file is empty: a header row is required' },
  ]);
