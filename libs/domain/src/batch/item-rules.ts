import type { Problem } from '../shared/errors';
import { jsonBytes } from '../shared/json-bytes';
import type { WorkflowVersion } from '../workflow/workflow';

/**
 * One item as a client gave it, before it is a `BatchItem`: an element of a JSON body's `items`,
 * or a CSV row once its cells are mapped. Values are not trusted to have the item's types yet.
 */
export interface ItemCandidate {
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly profile?: string | null;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** One item may not exceed this (its inputs, profile and metadata as JSON, in UTF-8 bytes): it must fit in a chunk of the items stream. */
export const MAX_ITEM_BYTES = 64 * 1024;
/** An item's own metadata goes with its target call and webhooks: at most this much as JSON (UTF-8 bytes), as for a batch's. */
export const MAX_ITEM_METADATA_BYTES = 16 * 1024;

/** The part of a workflow version the item rules read. */
export type ItemWorkflow = Pick<WorkflowVersion, 'workflowId' | 'version' | 'inputs'>;

/**
 * Where an item came from, so its problems name it the way the client wrote it: the JSON path says
 * `items[2]` and `items[2].inputs.email`, a CSV row says `Row 3` and the input's name (its column
 * is the mapping's business).
 */
export interface ItemOrigin {
  /** 1-based, the header of a CSV not counted. */
  readonly row: number;
  /** How a message names the item. */
  readonly label: string;
  /** The `field` of a problem about one input or one metadata key of the item. */
  readonly field: (part: 'inputs' | 'metadata', name: string) => string;
  /** The `field` of a problem about the item's metadata as a whole. */
  readonly metadataField: string;
}

/** The item at 0-based `index` of a JSON body's `items`. */
export const jsonItemOrigin = (index: number): ItemOrigin => ({
  row: index + 1,
  label: `items[${index}]`,
  field: (part, name) => `items[${index}].${part}.${name}`,
  metadataField: `items[${index}].metadata`,
});

/** The failed execution at 0-based `index` of the batch a retry re-runs: its item is checked against the retry's workflow version. */
export const retriedItemOrigin = (index: number): ItemOrigin => ({
  row: index + 1,
  label: `Execution ${index} of the parent batch`,
  field: (part, name) => `${part}.${name}`,
  metadataField: 'metadata',
});

/** The data row at 0-based `index` of a CSV (the header not counted). */
export const csvRowOrigin = (index: number): ItemOrigin => ({
  row: index + 1,
  label: `Row ${index + 1}`,
  field: (part, name) => (part === 'inputs' ? name : `metadata.${name}`),
  metadataField: 'metadata',
});

const isBlank = (value: unknown): boolean => value === undefined || value === null || (typeof value === 'string' && value.trim() === '');

/**
 * The item rules, the same for every way a batch is given: every input is one the workflow
 * declares, every required input is present and not blank, its metadata is at most 16 KiB as JSON
 * and the whole item at most 64 KiB. Metadata values may be any JSON. Empty when the item is valid.
 * Codes: `unknown_input`, `required_input_empty`, `metadata_too_large`, `item_too_large`.
 */
export const itemProblems = (item: ItemCandidate, workflow: ItemWorkflow, origin: ItemOrigin): Problem[] => {
  const problems = itemInputRules(workflow)(item, origin);
  problems.push(...itemSizeProblems(item, origin));
  return problems;
};

/**
 * The rules of `itemProblems` about inputs, with what they need of the workflow worked out once:
 * for a caller checking many items of one workflow (the rows of a CSV). Returns a new array.
 */
export const itemInputRules = (workflow: ItemWorkflow): ((item: ItemCandidate, origin: ItemOrigin) => Problem[]) => {
  const declared = new Set(workflow.inputs.map((input) => input.name));
  const required = workflow.inputs.filter((input) => input.required).map((input) => input.name);
  return (item, origin) => {
    const { row, label } = origin;
    const problems: Problem[] = [];
    for (const name of Object.keys(item.inputs)) {
      if (!declared.has(name)) {
        problems.push({
          code: 'unknown_input',
          row,
          field: origin.field('inputs', name),
          message: `${label}: "${name}" is not an input of workflow ${workflow.workflowId} v${workflow.version}`,
        });
      }
    }
    for (const name of required) {
      // Own properties only: an input named `toString` or `constructor` is not found on the prototype.
      const present = Object.hasOwn(item.inputs, name);
      if (present && !isBlank(item.inputs[name])) continue;
      problems.push({
        code: 'required_input_empty',
        row,
        field: origin.field('inputs', name),
        message: `${label}: required input "${name}" is ${present ? 'empty' : 'missing'}`,
      });
    }
    return problems;
  };
};

/**
 * The size rules of `itemProblems`. A caller that knows an item's JSON is at most
 * MAX_ITEM_METADATA_BYTES (as `rowMapper` bounds a CSV row's from its cells' lengths, with
 * JSON_BYTES_PER_CHAR) may skip them: neither can fail then, since the metadata's JSON is part of
 * the item's.
 */
export const itemSizeProblems = (item: ItemCandidate, origin: ItemOrigin): Problem[] => {
  const { row, label } = origin;
  const problems: Problem[] = [];
  const metadataBytes = item.metadata === undefined ? 0 : jsonBytes(item.metadata);
  if (metadataBytes > MAX_ITEM_METADATA_BYTES) {
    problems.push({
      code: 'metadata_too_large',
      row,
      field: origin.metadataField,
      message: `${label}: metadata is ${metadataBytes} bytes as JSON; an item's metadata may hold at most ${MAX_ITEM_METADATA_BYTES}`,
    });
  }
  // Counted as given; the profile an item is assigned from a pool adds at most its name.
  const itemBytes = jsonBytes(item);
  if (itemBytes > MAX_ITEM_BYTES) {
    problems.push({
      code: 'item_too_large',
      row,
      message: `${label} is ${itemBytes} bytes as JSON; an item may hold at most ${MAX_ITEM_BYTES}`,
    });
  }
  return problems;
};

/**
 * At most this many UTF-8 bytes of JSON per UTF-16 unit of a string: `\u001f` (a control
 * character or a lone surrogate) is six; `\"`, a 3-byte character or half a 4-byte one, less.
 */
export const JSON_BYTES_PER_CHAR = 6;
