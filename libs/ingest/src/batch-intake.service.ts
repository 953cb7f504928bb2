import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { BatchRepository, ItemTooLarge, ItemsWriter, WorkflowRepository, newId } from '@flotilla/application';
import {
  PreviewBuilder,
  ProfileAssigner,
  RuleViolation,
  WorkflowNotFound,
  emptyCsv,
  findVersion,
  itemProblems,
  jsonItemOrigin,
  latestVersion,
  mapColumns,
  mapRow,
  mappingShapeProblems,
  validateBatchSettings,
  validateMapping,
  type BatchItem,
  type BatchSettings,
  type CsvPreview,
  type MappingRequest,
  type Problem,
  type WorkflowVersion,
} from '@flotilla/domain';
import type { EventStore, GlobalPosition } from '@flotilla/event-store';
import { CLOCK, EVENT_STORE, type Clock } from '@flotilla/platform';
import type { BatchConfigDto, BatchItemDto } from './dto';

/** At most this many rows' errors are returned for an invalid upload; the counts cover every row. */
export const MAX_ROWS_WITH_ERRORS = 100;

export interface CreatedBatch {
  readonly batchId: string;
  readonly total: number;
  readonly position: GlobalPosition;
}

/** Counts rows and keeps the problems of the first invalid ones. */
class RowProblems {
  readonly details: Problem[] = [];
  invalidRows = 0;
  rows = 0;

  add(problems: readonly Problem[]): void {
    this.rows++;
    if (problems.length === 0) return;
    this.invalidRows++;
    if (this.invalidRows <= MAX_ROWS_WITH_ERRORS) this.details.push(...problems);
  }

  throwIfAny(what: string): void {
    if (this.invalidRows === 0) return;
    throw new RuleViolation(
      `${this.invalidRows} of ${this.rows} ${what} ${this.invalidRows === 1 ? 'is' : 'are'} invalid; nothing was created` +
        (this.invalidRows > MAX_ROWS_WITH_ERRORS ? ` (the errors of the first ${MAX_ROWS_WITH_ERRORS} are listed)` : ''),
      this.details,
    );
  }
}

/**
 * Accepts batches: resolves the workflow version, checks every item, writes the items in chunks as
 * they arrive, then records the batch. An invalid item anywhere means nothing is created: the
 * chunks already written belong to no batch and are never read.
 */
@Injectable()
export class BatchIntakeService {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly batches: BatchRepository,
    private readonly workflows: WorkflowRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async resolveWorkflow(workflowId: string, version?: number): Promise<WorkflowVersion> {
    const workflow = await this.workflows.load(workflowId);
    if (workflow === null) throw new WorkflowNotFound(workflowId);
    const resolved = version === undefined ? latestVersion(workflow) : findVersion(workflow, version);
    if (resolved === undefined) throw new WorkflowNotFound(workflowId, version);
    return resolved;
  }

  /** Checks what can be checked before any item is read, so a bad config fails fast. */
  settingsOf(config: BatchConfigDto, workflow: WorkflowVersion): BatchSettings {
    const settings: BatchSettings = {
      name: config.name,
      workflowId: workflow.workflowId,
      workflowVersion: workflow.version,
      startAt: config.startAt === undefined ? this.clock.now().toISOString() : new Date(config.startAt).toISOString(),
      maxConcurrent: config.maxConcurrent,
      batchIntervalSeconds: config.batchIntervalSeconds,
      ...(config.defaultProfile === undefined ? {} : { defaultProfile: config.defaultProfile }),
      ...(config.profilePool === undefined ? {} : { profilePool: config.profilePool }),
      metadata: stringRecord(config.metadata ?? {}),
    };
    const problems = validateBatchSettings(settings);
    if (problems.length > 0) throw new RuleViolation(problems[0]?.message ?? 'The batch settings are invalid', problems);
    return settings;
  }

  async createFromJson(config: BatchConfigDto, items: readonly BatchItemDto[], actor: string): Promise<CreatedBatch> {
    const workflow = await this.resolveWorkflow(config.workflowId, config.workflowVersion);
    const settings = this.settingsOf(config, workflow);
    const problems = new RowProblems();
    items.forEach((item, i) => problems.add(itemProblems(item, workflow, jsonItemOrigin(i))));
    problems.throwIfAny('items');
    const profiles = new ProfileAssigner(settings.defaultProfile, settings.profilePool);
    return this.create(settings, actor, async (writer) => {
      for (const item of items) await writer.add(itemOf(item.inputs, profiles.assign(item.profile), item.metadata));
    });
  }

  /**
   * Rows arrive as parsed CSV records, the header first; they are mapped, checked and written as they
   * come. `rawMapping` is the `mapping` of the config as the client sent it.
   */
  async createFromCsv(config: BatchConfigDto, rawMapping: unknown, rows: AsyncIterable<string[]>, actor: string): Promise<CreatedBatch> {
    const mapping = mappingOf(rawMapping, 'config.mapping');
    const workflow = await this.resolveWorkflow(config.workflowId, config.workflowVersion);
    const settings = this.settingsOf(config, workflow);
    const profiles = new ProfileAssigner(settings.defaultProfile, settings.profilePool);
    return this.create(settings, actor, async (writer) => {
      const iterator = rows[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) throw emptyCsv();
      const headers = withoutBom(first.value);
      const columns = mapColumns(headers, workflow.inputs, mapping);
      const mappingProblems = validateMapping(headers, columns, workflow.inputs, mapping);
      if (mappingProblems.length > 0) throw new RuleViolation(`The column mapping is invalid: ${mappingProblems[0]?.message ?? ''}`, mappingProblems);
      const problems = new RowProblems();
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        const row = mapRow(next.value, problems.rows, columns, workflow);
        problems.add(row.errors);
        // After the first invalid row nothing more is written: the upload will be refused, but every
        // row is still read so the answer can count them all.
        if (row.valid && problems.invalidRows === 0) await writer.add(itemOf(row.inputs, profiles.assign(row.profile), row.metadata));
      }
      if (problems.rows === 0) throw new RuleViolation('The CSV has a header but no data rows', [{ code: 'csv_no_rows', message: 'The CSV has a header but no data rows' }]);
      problems.throwIfAny('rows');
    });
  }

  /** `rawMapping` is the `mapping` field as the client sent it. */
  async preview(workflowId: string, version: number | undefined, rawMapping: unknown, rows: AsyncIterable<string[]>): Promise<CsvPreview> {
    const mapping = mappingOf(rawMapping, 'mapping');
    const workflow = await this.resolveWorkflow(workflowId, version);
    let builder: PreviewBuilder | null = null;
    for await (const row of rows) {
      if (builder === null) builder = new PreviewBuilder(withoutBom(row), workflow, mapping);
      else builder.add(row);
    }
    if (builder === null) throw emptyCsv();
    return builder.result();
  }

  private async create(settings: BatchSettings, actor: string, writeItems: (writer: ItemsWriter) => Promise<void>): Promise<CreatedBatch> {
    const now = this.clock.now();
    const batchId = newId('bat', now.getTime());
    const writer = new ItemsWriter(this.store, batchId);
    try {
      await writeItems(writer);
    } catch (error) {
      if (error instanceof ItemTooLarge) {
        throw new RuleViolation(error.message, [{ code: 'item_too_large', row: error.index + 1, message: error.message }]);
      }
      throw error;
    }
    const items = await writer.finish();
    const result = await this.batches.handle(
      batchId,
      { type: 'CreateBatch', batchId, settings, total: writer.total, items, actor, now },
      { actor },
    );
    if (result.position === null) throw new Error(`Batch ${batchId} was not recorded`);
    return { batchId, total: writer.total, position: result.position };
  }
}

const itemOf = (inputs: Record<string, unknown>, profile: string | undefined, metadata: Record<string, string> | undefined): BatchItem => ({
  inputs,
  ...(profile === undefined ? {} : { profile }),
  ...(metadata === undefined || Object.keys(metadata).length === 0 ? {} : { metadata }),
});

/** A mapping of the wrong shape (`{"n": null}`, an unknown type) is a 400 naming the column's entry. */
const mappingOf = (raw: unknown, field: string): MappingRequest => {
  const problems = mappingShapeProblems(raw, field);
  if (problems.length > 0) throw new BadRequestException({ message: problems[0]?.message ?? `${field} is invalid`, details: problems });
  return raw as MappingRequest;
};

const withoutBom = (headers: string[]): string[] => headers.map((header, i) => (i === 0 ? header.replace(/^\uFEFF/, '') : header));

const stringRecord = (record: Record<string, unknown>): Record<string, string> => {
  const problems: Problem[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (typeof value !== 'string') problems.push({ code: 'invalid_metadata', field: `metadata.${key}`, message: `metadata.${key} must be a string` });
  }
  if (problems.length > 0) throw new RuleViolation(problems[0]?.message ?? 'metadata values must be strings', problems);
  return record as Record<string, string>;
};
