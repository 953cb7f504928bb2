// The mapping step's rules, apart from the screen: what each column's select holds, the mapping
// request it makes, what is wrong with it (the domain's own rules), and which saved mapping fits.
import {
  columnSetOf,
  mapColumns,
  normalizeName,
  validateMapping,
  type ColumnMapping,
  type MappingRequest,
  type Problem,
  type WorkflowInput,
} from '@flotilla/domain';
import type { SavedMapping } from '../workflows/types';

/** One column as the step shows it: its select's value (`input:<name>`, `profile`, `metadata`, `skip`) and metadata key. */
export interface ColumnState {
  readonly header: string;
  readonly choice: string;
  readonly metadataKey: string;
}

export const SKIP = 'skip';
export const PROFILE = 'profile';
export const METADATA = 'metadata';
const INPUT_PREFIX = 'input:';

/** The select's value for a mapping. */
export const choiceOf = (mapping: ColumnMapping): string => {
  switch (mapping.type) {
    case 'input':
      return `${INPUT_PREFIX}${mapping.field}`;
    case 'profile':
      return PROFILE;
    case 'metadata':
      return METADATA;
    case 'skip':
      return SKIP;
  }
};

/** The options of every column's select: each input of the workflow, then Profile, Metadata and Skip. */
export const choiceOptions = (inputs: readonly WorkflowInput[]): { value: string; label: string }[] => [
  ...inputs.map((input) => ({
    value: `${INPUT_PREFIX}${input.name}`,
    label: `Input: ${input.name}${input.required ? ' (required)' : ''}`,
  })),
  { value: PROFILE, label: 'Profile' },
  { value: METADATA, label: 'Metadata' },
  { value: SKIP, label: 'Skip' },
];

/** The columns as the domain maps them: the saved (or any explicit) mapping where it names the header, else auto-mapped. */
export const initialColumns = (headers: readonly string[], inputs: readonly WorkflowInput[], saved: MappingRequest = {}): ColumnState[] =>
  mapColumns(headers, inputs, saved).map(({ header, mapping }) => ({
    header,
    choice: choiceOf(mapping),
    metadataKey: mapping.type === 'metadata' ? mapping.key : normalizeName(header),
  }));

/** The mapping of one column. */
export const columnMapping = (column: ColumnState): ColumnMapping => {
  if (column.choice.startsWith(INPUT_PREFIX)) return { type: 'input', field: column.choice.slice(INPUT_PREFIX.length) };
  if (column.choice === PROFILE) return { type: 'profile' };
  if (column.choice === METADATA) return { type: 'metadata', key: column.metadataKey.trim() };
  return { type: 'skip' };
};

/** The explicit mapping request of every column, by header: what preview, plan, create and the saved mapping get. */
export const mappingRequestOf = (columns: readonly ColumnState[]): Record<string, ColumnMapping> => {
  const request: Record<string, ColumnMapping> = {};
  for (const column of columns) {
    Object.defineProperty(request, column.header, { value: columnMapping(column), enumerable: true, writable: true, configurable: true });
  }
  return request;
};

/** What the domain finds wrong with the mapping: the step shows these and refuses Next while there are any. */
export const mappingProblems = (
  headers: readonly string[],
  columns: readonly ColumnState[],
  inputs: readonly WorkflowInput[],
): Problem[] => {
  const request = mappingRequestOf(columns);
  return validateMapping(headers, mapColumns(headers, inputs, request), inputs, request);
};

/** Changes one column's choice (by its index: headers may repeat). */
export const withChoice = (columns: readonly ColumnState[], index: number, choice: string): ColumnState[] =>
  columns.map((column, at) => (at === index ? { ...column, choice } : column));

/** Changes one column's metadata key. */
export const withMetadataKey = (columns: readonly ColumnState[], index: number, metadataKey: string): ColumnState[] =>
  columns.map((column, at) => (at === index ? { ...column, metadataKey } : column));

const setKey = (headers: readonly string[]): string => columnSetOf(headers).join('\u0000');

/** The saved mapping for this set of headers, in any order and with repeats ignored; the latest saved if several. */
export const findSavedMapping = (saved: readonly SavedMapping[], headers: readonly string[]): SavedMapping | undefined => {
  const key = setKey(headers);
  const matching = saved.filter((entry) => setKey(entry.headers) === key);
  return matching.sort((a, b) => a.savedAt.localeCompare(b.savedAt)).at(-1);
};
