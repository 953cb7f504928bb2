import { BadRequestException } from '@nestjs/common';
import {
  PreviewBuilder,
  ProfileAssigner,
  RuleViolation,
  emptyCsv,
  mapColumns,
  rowMapper,
  mappingShapeProblems,
  validateMapping,
  type BatchSettings,
  type BatchSource,
  type CsvPreview,
  type MappedColumn,
  type MappingRequest,
  type WorkflowVersion,
} from '@flotilla/domain';
import { batchItemOf, type ItemsSink, type ItemsSource } from './item-chunks';
import { RowProblems } from './row-problems';

/**
 * Rows arrive as parsed CSV records, the header first; they are mapped, checked (the mapping, then
 * each row by `rowMapper`: its column count and the item rules) and given to the writer as they come.
 * Any invalid row is a 422 once every row is read.
 */
export const csvRowsSource =
  (rows: AsyncIterable<string[]>, workflow: WorkflowVersion, mapping: MappingRequest, settings: BatchSettings): ItemsSource =>
  async (writer) => {
    const problems = new RowProblems();
    const source = await readCsvRows(rows, workflow, mapping, settings, problems, writer);
    problems.throwIfAny('rows');
    return source;
  };

/**
 * Maps and checks every row into `problems`, giving the valid ones to `writer` until the first invalid
 * one; a broken mapping or an empty CSV is a 422 at once. A plan reads with this too, writing nothing.
 */
export const readCsvRows = async (
  rows: AsyncIterable<string[]>,
  workflow: WorkflowVersion,
  mapping: MappingRequest,
  settings: BatchSettings,
  problems: RowProblems,
  writer: ItemsSink,
): Promise<BatchSource> => {
  const profiles = new ProfileAssigner(settings.defaultProfile, settings.profilePool);
  const iterator = rows[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw emptyCsv();
  const headers = withoutBom(first.value);
  const columns = mapColumns(headers, workflow.inputs, mapping);
  const mappingProblems = validateMapping(headers, columns, workflow.inputs, mapping);
  if (mappingProblems.length > 0)
    throw new RuleViolation(`The column mapping is invalid: ${mappingProblems[0]?.message ?? ''}`, mappingProblems);
  const mapRow = rowMapper(columns, workflow);
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    const row = mapRow(next.value, problems.rows);
    // After the first invalid row nothing more is written: the upload will be refused, but every
    // row is still read so the answer can count them all.
    if (problems.keep(row.errors)) await writer.add(batchItemOf(row.inputs, profiles.assign(row.profile), row.metadata));
  }
  if (problems.rows === 0)
    throw new RuleViolation('The CSV has a header but no data rows', [
      { code: 'csv_no_rows', message: 'The CSV has a header but no data rows' },
    ]);
  return sourceOf(columns);
};

/** The mapped columns of the upload, in their order: what an export answers under the original headers. */
const sourceOf = (columns: readonly MappedColumn[]): BatchSource => ({
  kind: 'csv',
  columns: columns.flatMap(({ header, mapping }) => (mapping.type === 'skip' ? [] : [{ header, mapping }])),
});

/** The mapping and the first rows of a CSV, mapped and checked like an upload's, with counts over every row. */
export const previewCsvRows = async (
  rows: AsyncIterable<string[]>,
  workflow: WorkflowVersion,
  mapping: MappingRequest,
): Promise<CsvPreview> => {
  let builder: PreviewBuilder | null = null;
  for await (const row of rows) {
    if (builder === null) builder = new PreviewBuilder(withoutBom(row), workflow, mapping);
    else builder.add(row);
  }
  if (builder === null) throw emptyCsv();
  return builder.result();
};

/** A mapping of the wrong shape (`{"n": null}`, an unknown type) is a 400 naming the column's entry. */
export const mappingOf = (raw: unknown, field: string): MappingRequest => {
  const problems = mappingShapeProblems(raw, field);
  if (problems.length > 0) throw new BadRequestException({ message: problems[0]?.message ?? `${field} is invalid`, details: problems });
  return raw as MappingRequest;
};

const withoutBom = (headers: string[]): string[] => headers.map((header, i) => (i === 0 ? header.replace(/^\uFEFF/, '') : header));
