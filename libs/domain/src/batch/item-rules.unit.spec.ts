import { mapColumns, mapRow } from '../csv/mapping';
import { csvRowOrigin, itemProblems, jsonItemOrigin, type ItemWorkflow } from './item-rules';

const workflow: ItemWorkflow = {
  workflowId: 'crm',
  version: 2,
  inputs: [
    { name: 'email', required: true },
    { name: 'first_name', required: true },
    { name: 'company', required: false },
  ],
};

describe('the item rules', () => {
  it('accept an item with every required input, optional ones blank or absent, and metadata of any JSON values', () => {
    expect(itemProblems({ inputs: { email: 'a@x.io', first_name: 'Ann' } }, workflow, jsonItemOrigin(0))).toEqual([]);
    expect(
      itemProblems({ inputs: { email: 'a@x.io', first_name: 'Ann', company: '' }, metadata: { ref: 'R1' } }, workflow, jsonItemOrigin(0)),
    ).toEqual([]);
    const metadata = { row: 1, vip: true, tags: ['a', 'b'], nested: { at: null }, note: 'x' };
    expect(itemProblems({ inputs: { email: 'a@x.io', first_name: 'Ann' }, metadata }, workflow, jsonItemOrigin(0))).toEqual([]);
    // Inputs are any JSON: only blankness is checked, not the type.
    expect(itemProblems({ inputs: { email: { at: 'x.io' }, first_name: 0 } }, workflow, jsonItemOrigin(0))).toEqual([]);
  });

  it('name a JSON item by its index in items, and its field by its path', () => {
    expect(itemProblems({ inputs: { email: 'a@x.io', emial: 'x' }, metadata: { n: 5 } }, workflow, jsonItemOrigin(3))).toEqual([
      { code: 'unknown_input', row: 4, field: 'items[3].inputs.emial', message: 'items[3]: "emial" is not an input of workflow crm v2' },
      {
        code: 'required_input_empty',
        row: 4,
        field: 'items[3].inputs.first_name',
        message: 'items[3]: required input "first_name" is missing',
      },
    ]);
  });

  it('name a CSV row by its number and its field by the input name, with the same codes', () => {
    expect(
      itemProblems({ inputs: { email: ' ', first_name: 'Ann', emial: 'x' }, metadata: { n: null } }, workflow, csvRowOrigin(0)),
    ).toEqual([
      { code: 'unknown_input', row: 1, field: 'emial', message: 'Row 1: "emial" is not an input of workflow crm v2' },
      { code: 'required_input_empty', row: 1, field: 'email', message: 'Row 1: required input "email" is empty' },
    ]);
  });

  it('refuse item metadata over 16 KiB as JSON and an item over 64 KiB, naming the row', () => {
    const inputs = { email: 'a@x.io', first_name: 'Ann' };
    // {"k":"…"} is 8 bytes around the value: 16,376 bytes of value is exactly 16 KiB.
    expect(itemProblems({ inputs, metadata: { k: 'x'.repeat(16_376) } }, workflow, jsonItemOrigin(2))).toEqual([]);
    expect(itemProblems({ inputs, metadata: { k: 'x'.repeat(16_377) } }, workflow, jsonItemOrigin(2))).toEqual([
      {
        code: 'metadata_too_large',
        row: 3,
        field: 'items[2].metadata',
        message: "items[2]: metadata is 16385 bytes as JSON; an item's metadata may hold at most 16384",
      },
    ]);
    // Counted in UTF-8 bytes: 5,462 euro signs are 16,386 bytes.
    expect(itemProblems({ inputs, metadata: { k: '€'.repeat(5_462) } }, workflow, csvRowOrigin(0)).map((p) => [p.code, p.field])).toEqual([
      ['metadata_too_large', 'metadata'],
    ]);
    const big = itemProblems({ inputs: { ...inputs, company: 'y'.repeat(64 * 1024) } }, workflow, csvRowOrigin(9));
    expect(big).toEqual([{ code: 'item_too_large', row: 10, message: 'Row 10 is 65597 bytes as JSON; an item may hold at most 65536' }]);
  });

  it('read a null or whitespace required input as empty, and an absent one as missing', () => {
    const messages = (inputs: Record<string, unknown>) =>
      itemProblems({ inputs }, workflow, jsonItemOrigin(0)).map((problem) => problem.message);
    expect(messages({ email: null, first_name: '\t ' })).toEqual([
      'items[0]: required input "email" is empty',
      'items[0]: required input "first_name" is empty',
    ]);
    expect(messages({})).toEqual(['items[0]: required input "email" is missing', 'items[0]: required input "first_name" is missing']);
  });

  it('find inputs named like Object.prototype properties only as own properties', () => {
    const special: ItemWorkflow = {
      workflowId: 'keys',
      version: 1,
      inputs: [
        { name: 'toString', required: true },
        { name: 'constructor', required: false },
      ],
    };
    expect(itemProblems({ inputs: {} }, special, jsonItemOrigin(0)).map((problem) => problem.field)).toEqual(['items[0].inputs.toString']);
    const withProto = JSON.parse('{"toString":"t","__proto__":"p"}') as Record<string, unknown>;
    expect(itemProblems({ inputs: withProto }, special, jsonItemOrigin(0)).map((problem) => [problem.code, problem.field])).toEqual([
      ['unknown_input', 'items[0].inputs.__proto__'],
    ]);
  });

  it('are the rules a CSV row passes once its cells are mapped', () => {
    const headers = ['email', 'first_name', 'ref'];
    const columns = mapColumns(headers, workflow.inputs, { ref: { type: 'metadata', key: 'ref' } });
    const cells = ['', 'Ann', 'R1'];
    const row = mapRow(cells, 6, columns, workflow);
    expect(row.errors).toEqual(
      itemProblems({ inputs: row.inputs, profile: row.profile, metadata: row.metadata }, workflow, csvRowOrigin(6)),
    );
    expect(row.errors.map((problem) => [problem.code, problem.row, problem.field])).toEqual([['required_input_empty', 7, 'email']]);
  });
});
