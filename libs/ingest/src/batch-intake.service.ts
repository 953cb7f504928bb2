import { Inject, Injectable } from '@nestjs/common';
import { BatchCommandHandler, WorkflowRepository } from '@flotilla/application';
import type { BatchSettings, CsvPreview } from '@flotilla/domain';
import type { EventStore, GlobalPosition } from '@flotilla/event-store';
import { CLOCK, EVENT_STORE, type Clock } from '@flotilla/platform';
import { newBatchId } from './batch-ids';
import { batchSettingsOf } from './batch-settings';
import { csvRowsSource, mappingOf, previewCsvRows } from './csv-rows';
import type { BatchConfigDto, BatchItemDto } from './dto';
import { writeItemChunks, type ItemsSource } from './item-chunks';
import { checkJsonItems, jsonItemsSource } from './json-items';
import { resolveWorkflowVersion } from './workflow-versions';

export interface CreatedBatch {
  readonly batchId: string;
  readonly total: number;
  readonly position: GlobalPosition;
}

/**
 * Accepts batches: resolves the workflow version, checks the settings and every item, writes the
 * items in chunks as they arrive, then records the batch. An invalid item anywhere means nothing is
 * created: the chunks already written belong to no batch and are never read.
 */
@Injectable()
export class BatchIntakeService {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly batches: BatchCommandHandler,
    private readonly workflows: WorkflowRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async createFromJson(config: BatchConfigDto, items: readonly BatchItemDto[], actor: string): Promise<CreatedBatch> {
    const workflow = await resolveWorkflowVersion(this.workflows, config.workflowId, config.workflowVersion);
    const settings = batchSettingsOf(config, workflow, this.clock.now());
    checkJsonItems(items, workflow);
    return this.create(settings, actor, jsonItemsSource(items, settings));
  }

  /** `rawMapping` is the `mapping` of the config as the client sent it; rows are checked as they are written. */
  async createFromCsv(config: BatchConfigDto, rawMapping: unknown, rows: AsyncIterable<string[]>, actor: string): Promise<CreatedBatch> {
    const mapping = mappingOf(rawMapping, 'config.mapping');
    const workflow = await resolveWorkflowVersion(this.workflows, config.workflowId, config.workflowVersion);
    const settings = batchSettingsOf(config, workflow, this.clock.now());
    return this.create(settings, actor, csvRowsSource(rows, workflow, mapping, settings));
  }

  /** `rawMapping` is the `mapping` field as the client sent it. */
  async preview(workflowId: string, version: number | undefined, rawMapping: unknown, rows: AsyncIterable<string[]>): Promise<CsvPreview> {
    const mapping = mappingOf(rawMapping, 'mapping');
    const workflow = await resolveWorkflowVersion(this.workflows, workflowId, version);
    return previewCsvRows(rows, workflow, mapping);
  }

  private async create(settings: BatchSettings, actor: string, source: ItemsSource): Promise<CreatedBatch> {
    const now = this.clock.now();
    const batchId = newBatchId(now);
    const { items, total, source: described } = await writeItemChunks(this.store, batchId, source);
    const command = { type: 'CreateBatch' as const, batchId, settings, total, items, actor, now };
    const result = await this.batches.handle(batchId, described ? { ...command, source: described } : command, { actor });
    if (result.position === null) throw new Error(`Batch ${batchId} was not recorded`);
    return { batchId, total, position: result.position };
  }
}
