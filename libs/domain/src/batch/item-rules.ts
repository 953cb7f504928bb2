import type { Problem } from '../shared/errors';
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
}

/** The item at 0-based `index` of a JSON body's `items`. */
export const jsonItemOrigin = (index: number): ItemOrigin => ({
  row: index + 1,
  label: `items[${index}]`,
  field: (part, name) => `items[${index}].${part}.${name}`,
});

/** The data row at 0-based `index` of a CSV (the header not counted). */
export const csvRowOrigin = (index: number): ItemOrigin => ({
  row: index + 1,
  label: `Row ${index + 1}`,
  field: (part, name) => (part === 'inputs' ? name : `metadata.${name}`),
});

const isBlank = (value: unknown): boolean => value === undefined || value === null || (typeof value === 'string' && value.trim() === '');

/**
 * The item rules, the same for every way a batch is given: every input is one the workflow
 * declares, every required input is present and not blank, and metadata values are strings.
 * Empty when the item is valid. Codes: `unknown_input`, `required_input_empty`, `invalid_metadata`.
 */
export const itemProblems = (item: ItemCandidate, workflow: ItemWorkflow, origin: ItemOrigin): Problem[] => {
  const { row, label } = origin;
  const problems: Problem[] = [];
  const declared = new Set(workflow.inputs.map((input) => input.name));
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
  for (const input of workflow.inputs) {
    if (!input.required) continue;
    // Own properties only: an input named `toString` or `constructor` is not found on the prototype.
    const present = Object.hasOwn(item.inputs, input.name);
    if (present && !isBlank(item.inputs[input.name])) continue;
    problems.push({
      code: 'required_input_empty',
      row,
      field: origin.field('inputs', input.name),
      message: `${label}: required input "${input.name}" is ${present ? 'empty' : 'missing'}`,
    });
  }
  for (const [key, value] of Object.entries(item.metadata ?? {})) {
    if (typeof value !== 'string') {
      problems.push({
        code: 'invalid_metadata',
        row,
        field: origin.field('metadata', key),
        message: `${label}: metadata "${key}" must be a string`,
      });
    }
  }
  return problems;
};
