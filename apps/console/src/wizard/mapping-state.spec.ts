import type { WorkflowInput } from '@flotilla/domain';
import { buildConfig, initialConfigForm } from './config';
import { checkJsonItems } from './csv';
import {
  choiceOptions,
  findSavedMapping,
  initialColumns,
  mappingProblems,
  mappingRequestOf,
  withChoice,
  withMetadataKey,
} from './mapping-state';

const inputs: WorkflowInput[] = [
  { name: 'email', required: true },
  { name: 'first_name', required: false },
];

describe('mapping state', () => {
  it('auto-maps headers to inputs as the domain does (case, spaces as _) and skips the rest', () => {
    const columns = initialColumns(['Email', 'First Name', 'Note'], inputs);
    expect(columns.map((column) => column.choice)).toEqual(['input:email', 'input:first_name', 'skip']);
    expect(columns[2]?.metadataKey).toBe('note');
    expect(mappingProblems(['Email', 'First Name', 'Note'], columns, inputs)).toEqual([]);
  });

  it('starts from a saved mapping where it names the header', () => {
    const columns = initialColumns(['Email', 'Note'], inputs, { Note: { type: 'metadata', key: 'remark' } });
    expect(columns[1]).toEqual({ header: 'Note', choice: 'metadata', metadataKey: 'remark' });
    expect(mappingRequestOf(columns)).toEqual({ Email: { type: 'input', field: 'email' }, Note: { type: 'metadata', key: 'remark' } });
  });

  it('offers each input, Profile, Metadata and Skip', () => {
    expect(choiceOptions(inputs).map((option) => option.value)).toEqual(['input:email', 'input:first_name', 'profile', 'metadata', 'skip']);
    expect(choiceOptions(inputs)[0]?.label).toContain('Input: email');
  });

  it('finds a required input unmapped, two columns on one input, and a metadata column with no key', () => {
    const headers = ['Email', 'Mail', 'Note'];
    let columns = initialColumns(headers, inputs);
    columns = withChoice(columns, 0, 'skip');
    expect(mappingProblems(headers, columns, inputs).map((problem) => problem.code)).toEqual([
      'required_input_unmapped',
      'all_columns_skipped',
    ]);
    columns = withChoice(withChoice(columns, 0, 'input:email'), 1, 'input:email');
    expect(mappingProblems(headers, columns, inputs).map((problem) => problem.code)).toEqual(['duplicate_mapping']);
    columns = withMetadataKey(withChoice(withChoice(columns, 1, 'skip'), 2, 'metadata'), 2, '  ');
    expect(mappingProblems(headers, columns, inputs).map((problem) => problem.code)).toEqual(['metadata_key_missing']);
  });

  it('keeps a header named like an Object.prototype key as data', () => {
    const request = mappingRequestOf(initialColumns(['__proto__', 'email'], inputs));
    expect(Object.keys(request)).toEqual(['__proto__', 'email']);
    expect(Object.getPrototypeOf(request)).toBe(Object.prototype);
  });

  it('restores the saved mapping of the same set of headers in any order, the latest one', () => {
    const saved = [
      { headers: ['Email', 'Note'], mapping: {}, savedAt: '2026-01-01T00:00:00.000Z', savedBy: 'a' },
      { headers: ['Email', 'Name', 'Note'], mapping: {}, savedAt: '2026-01-02T00:00:00.000Z', savedBy: 'b' },
      { headers: ['Note', 'Email', 'Name'], mapping: {}, savedAt: '2026-01-03T00:00:00.000Z', savedBy: 'c' },
    ];
    expect(findSavedMapping(saved, ['Name', 'Note', 'Email'])?.savedBy).toBe('c');
    expect(findSavedMapping(saved, ['Note', 'Email', 'Email'])?.savedBy).toBe('a');
    expect(findSavedMapping(saved, ['Email'])).toBeUndefined();
  });
});

describe('configure', () => {
  it('builds the BatchConfigDto from the fields, leaving out what is empty', () => {
    const form = { ...initialConfigForm(undefined, 'Leads'), profilePool: ' a, b ,,', maxConcurrent: '5', maxFailures: 3 };
    expect(buildConfig(form, 'wf')).toEqual({
      config: {
        name: 'Leads',
        workflowId: 'wf',
        maxConcurrent: 5,
        batchIntervalSeconds: 60,
        priority: 50,
        profilePool: ['a', 'b'],
        maxFailures: 3,
      },
      problems: {},
    });
  });

  it('converts the local start time to RFC 3339 and names the missing fields', () => {
    const { config, problems } = buildConfig(
      { ...initialConfigForm(undefined, ' '), startAt: '2030-01-02T03:04', maxConcurrent: '' },
      'wf',
    );
    expect(config.startAt).toBe(new Date('2030-01-02T03:04').toISOString());
    expect(Object.keys(problems)).toEqual(['name', 'maxConcurrent']);
  });
});

describe('JSON items', () => {
  it('takes an array of objects with inputs and names what is not', () => {
    expect(checkJsonItems('[{"inputs":{"email":"a@b.c"}}]').items).toHaveLength(1);
    expect(checkJsonItems('{"inputs":{}}').problems).toEqual(['The JSON must be an array of items']);
    expect(checkJsonItems('[{"inputs":1}, 2]').problems).toEqual([
      'items[0].inputs must be an object',
      'items[1] must be an object like { "inputs": { ... } }',
    ]);
    expect(checkJsonItems('[').problems[0]).toMatch(/^Not valid JSON/);
  });
});
