import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BatchCommandHandler, ItemsReader, ItemsWriter, WorkflowRepository } from '@flotilla/application';
import {
  BatchNotFound,
  costOf,
  failedExecutionsOf,
  isBatch,
  itemProblems,
  lastExecuteAtOf,
  requireFailedExecutions,
  retriedItemOrigin,
  type BatchSettings,
  type CsvPreview,
  type WorkflowVersion,
} from '@flotilla/domain';
import type { EventStore, GlobalPosition } from '@flotilla/event-store';
import {
  AUTH_OFF_CALLER,
  CLOCK,
  EVENT_STORE,
  type Caller,
  type Clock,
  DEFAULT_TEAM,
  TeamLimitsRegistry,
  teamLimitExceeded,
  type TeamLimits,
} from '@flotilla/platform';
import { newBatchId } from './batch-ids';
import { batchSettingsOf } from './batch-settings';
import { csvRowsSource, mappingOf, previewCsvRows, readCsvRows } from './csv-rows';
import type { BatchConfigDto, BatchItemDto, RetryFailedDto } from './dto';
import { writeItemChunks, type ItemsSource } from './item-chunks';
import { checkJsonItems, jsonItemProblems, jsonItemsSource, type JsonItem } from './json-items';
import type { BatchPlanResponse } from './responses';
import { ReadModelsService } from './read-models.service';
import { RowProblems } from './row-problems';
import { WorkflowTeams } from './workflow-teams';
import { resolveWorkflowVersion } from './workflow-versions';

export interface CreatedBatch {
  readonly batchId: string;
  readonly total: number;
  readonly position: GlobalPosition;
}

/** Who creates a batch, for which team, and for a retry which batch it re-runs and why. */
interface Creation {
  readonly actor: string;
  /** Recorded on BatchCreated's metadata: the batch, its executions, results and runs belong to it. */
  readonly team: string;
  readonly parentBatchId?: string;
  readonly reason?: string;
}

/**
 * Accepts batches: resolves the workflow version, checks the settings and every item, writes the
 * items in chunks as they arrive, then records the batch. An invalid item anywhere means nothing is
 * created: the chunks already written belong to no batch, are never read, and are discarded.
 */
@Injectable()
export class BatchIntakeService {
  private readonly logger = new Logger('BatchIntake');

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly batches: BatchCommandHandler,
    private readonly workflows: WorkflowRepository,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly readModels: ReadModelsService,
    private readonly workflowTeams: WorkflowTeams,
    // Absent where no AuthModule runs (module tests): then no team has limits.
    @Optional() @Inject(TeamLimitsRegistry) private readonly teamLimits: TeamLimitsRegistry | null = null,
  ) {}

  private limitsOf(team: string): TeamLimits {
    return this.teamLimits?.of(team) ?? {};
  }

  /**
   * The batch belongs to the caller's team; a caller who sees one team (a submitter) may use only that
   * team's workflows, another team's being a 404.
   */
  async createFromJson(
    config: BatchConfigDto,
    items: readonly JsonItem[],
    actor: string,
    caller: Caller = AUTH_OFF_CALLER,
  ): Promise<CreatedBatch> {
    const { team } = caller;
    const workflow = await this.visibleWorkflow(config.workflowId, config.workflowVersion, caller);
    const settings = batchSettingsOf(config, workflow, this.clock.now());
    const { maxItemsPerBatch } = this.limitsOf(team);
    if (maxItemsPerBatch !== undefined && items.length > maxItemsPerBatch)
      throw teamLimitExceeded(team, 'maxItemsPerBatch', maxItemsPerBatch, `The batch has ${items.length} items`);
    checkJsonItems(items, workflow);
    return this.create(settings, { actor, team }, jsonItemsSource(items, settings));
  }

  /** `rawMapping` is the `mapping` of the config as the client sent it; rows are checked as they are written. */
  async createFromCsv(
    config: BatchConfigDto,
    rawMapping: unknown,
    rows: AsyncIterable<string[]>,
    actor: string,
    caller: Caller = AUTH_OFF_CALLER,
  ): Promise<CreatedBatch> {
    const mapping = mappingOf(rawMapping, 'config.mapping');
    const workflow = await this.visibleWorkflow(config.workflowId, config.workflowVersion, caller);
    const settings = batchSettingsOf(config, workflow, this.clock.now());
    return this.create(settings, { actor, team: caller.team }, csvRowsSource(rows, workflow, mapping, settings));
  }

  /**
   * A new batch over the failed executions of `parentId` so far, in index order, with their items
   * as stored (inputs, profile, metadata) and the parent's settings less what `changes` overrides;
   * then the parent records the link. Each item is checked again under the retry's workflow version,
   * which may be a newer one. The parent's CSV columns carry over, so the retry's export answers
   * under the same headers. The retry belongs to the parent's team (`team`), whoever asks for it.
   */
  async retryFailed(parentId: string, changes: RetryFailedDto, actor: string, team = DEFAULT_TEAM): Promise<CreatedBatch> {
    const parent = await this.batches.load(parentId);
    if (!isBatch(parent)) throw new BatchNotFound(parentId);
    requireFailedExecutions(parent);
    // Read from the state as loaded, before any await lets an outcome move it.
    const failed = failedExecutionsOf(parent);
    const workflow = await resolveWorkflowVersion(
      this.workflows,
      parent.settings.workflowId,
      changes.workflowVersion ?? parent.settings.workflowVersion,
    );
    const settings: BatchSettings = {
      ...parent.settings,
      workflowVersion: workflow.version,
      startAt: changes.startAt === undefined ? this.clock.now().toISOString() : new Date(changes.startAt).toISOString(),
      ...(changes.name === undefined ? {} : { name: changes.name }),
      ...(changes.maxConcurrent === undefined ? {} : { maxConcurrent: changes.maxConcurrent }),
      ...(changes.batchIntervalSeconds === undefined ? {} : { batchIntervalSeconds: changes.batchIntervalSeconds }),
    };
    const reason = changes.reason === undefined ? {} : { reason: changes.reason };
    // A reader of its own: reading the parent's chunks in order must not evict the executor's.
    const reader = new ItemsReader(this.store, 2);
    const source: ItemsSource = async (writer) => {
      const problems = new RowProblems();
      for (const index of failed) {
        const item = await reader.get(parent.items, index);
        if (problems.keep(itemProblems(item, workflow, retriedItemOrigin(index)))) await writer.add(item);
      }
      problems.throwIfAny('failed executions');
      return parent.source;
    };
    const created = await this.create(settings, { actor, team, parentBatchId: parentId, ...reason }, source);
    const linked = await this.batches.handle(
      parentId,
      {
        type: 'RecordRetry',
        batchId: parentId,
        retryBatchId: created.batchId,
        executions: created.total,
        now: this.clock.now(),
        actor,
        ...reason,
      },
      { actor },
    );
    // The link is the later write: reading after it sees both batches.
    return { ...created, position: linked.position ?? created.position };
  }

  /** `rawMapping` is the `mapping` field as the client sent it. */
  async preview(
    workflowId: string,
    version: number | undefined,
    rawMapping: unknown,
    rows: AsyncIterable<string[]>,
    caller: Caller = AUTH_OFF_CALLER,
  ): Promise<CsvPreview> {
    const mapping = mappingOf(rawMapping, 'mapping');
    const workflow = await this.visibleWorkflow(workflowId, version, caller);
    return previewCsvRows(rows, workflow, mapping);
  }

  /** The plan of a JSON batch: its items checked, nothing written. */
  async planFromJson(config: BatchConfigDto, items: readonly BatchItemDto[], caller: Caller = AUTH_OFF_CALLER): Promise<BatchPlanResponse> {
    const workflow = await this.visibleWorkflow(config.workflowId, config.workflowVersion, caller);
    const settings = batchSettingsOf(config, workflow, this.clock.now());
    return planOf(settings, workflow, jsonItemProblems(items, workflow));
  }

  /** The plan of a CSV upload: every row read and checked, nothing written. */
  async planFromCsv(
    config: BatchConfigDto,
    rawMapping: unknown,
    rows: AsyncIterable<string[]>,
    caller: Caller = AUTH_OFF_CALLER,
  ): Promise<BatchPlanResponse> {
    const mapping = mappingOf(rawMapping, 'config.mapping');
    const workflow = await this.visibleWorkflow(config.workflowId, config.workflowVersion, caller);
    const settings = batchSettingsOf(config, workflow, this.clock.now());
    const problems = new RowProblems();
    await readCsvRows(rows, workflow, mapping, settings, problems, NOWHERE);
    return planOf(settings, workflow, problems);
  }

  /**
   * The workflow version the caller asks for by the workflow's id as it gave it (WorkflowTeams.resolve:
   * ids are per team); another team's workflow is the 404 of an unknown one to a caller who sees one team.
   */
  private visibleWorkflow(ref: string, version: number | undefined, caller: Caller) {
    return resolveWorkflowVersion(this.workflows, this.workflowTeams.resolve(ref, caller), version);
  }

  /** 422 when `maxConcurrent` (a new batch's, or a PATCH's) is over the team's limit. */
  checkMaxConcurrent(team: string, maxConcurrent: number): void {
    const { maxConcurrent: limit } = this.limitsOf(team);
    if (limit !== undefined && maxConcurrent > limit)
      throw teamLimitExceeded(team, 'maxConcurrent', limit, `maxConcurrent ${maxConcurrent} is over the limit`);
  }

  /**
   * The team's limits on a batch about to be created: its maxConcurrent, the batches it has
   * unfinished, and (as the items come, so a CSV stops at the first row over it) its item count.
   */
  private withinTeamLimits(settings: BatchSettings, team: string, source: ItemsSource): ItemsSource {
    const limits = this.limitsOf(team);
    this.checkMaxConcurrent(team, settings.maxConcurrent);
    if (limits.maxRunningBatches !== undefined) {
      const unfinished = this.readModels.queries.countUnfinishedBatches(team);
      if (unfinished >= limits.maxRunningBatches)
        throw teamLimitExceeded(team, 'maxRunningBatches', limits.maxRunningBatches, `The team has ${unfinished} batches not yet finished`);
    }
    const { maxItemsPerBatch } = limits;
    if (maxItemsPerBatch === undefined) return source;
    return (writer) => {
      let count = 0;
      return source({
        add: (item) => {
          if (++count > maxItemsPerBatch)
            throw teamLimitExceeded(team, 'maxItemsPerBatch', maxItemsPerBatch, `The batch has more than ${maxItemsPerBatch} items`);
          return writer.add(item);
        },
      });
    };
  }

  private async create(settings: BatchSettings, creation: Creation, unlimited: ItemsSource): Promise<CreatedBatch> {
    const source = this.withinTeamLimits(settings, creation.team, unlimited);
    const now = this.clock.now();
    const batchId = newBatchId(now);
    const writer = new ItemsWriter(this.store, batchId);
    try {
      const { items, total, source: described } = await writeItemChunks(writer, source);
      // Read last, so a hold that came while the items were written is seen; one that comes after
      // this read is caught up by WorkflowHolds when it meets the BatchCreated.
      const hold = (await this.workflows.load(settings.workflowId))?.held ?? null;
      const held = hold === null ? {} : { held: { by: 'workflow' as const, reason: hold.reason, actor: hold.actor } };
      const { team, ...byWhom } = creation;
      const command = { type: 'CreateBatch' as const, batchId, settings, total, items, ...byWhom, ...held, now };
      const result = await this.batches.handle(batchId, described ? { ...command, source: described } : command, {
        actor: creation.actor,
        team,
      });
      if (result.position === null) throw new Error(`Batch ${batchId} was not recorded`);
      return { batchId, total, position: result.position };
    } catch (error) {
      await this.discard(writer, batchId, error);
      throw error;
    }
  }

  /**
   * Without it, every refused upload of more than a chunk would keep its rows in the read models
   * (about 200 bytes an item), for good. A batch that was created after all (a CreateBatch whose
   * append failed in a way that leaves its outcome unknown) keeps its rows: the projection drops
   * the rows only of a batch that does not exist. The discard failing changes nothing for the caller.
   */
  private async discard(writer: ItemsWriter, batchId: string, error: unknown): Promise<void> {
    try {
      await writer.discard(error instanceof Error ? error.name : 'Error', this.clock.now());
    } catch (discardError) {
      this.logger.warn(`The items of the refused batch ${batchId} were not discarded: ${String(discardError)}`);
    }
  }
}

/** A plan writes nothing: its valid items are only counted. */
const NOWHERE = { add: (): Promise<number> => Promise.resolve(0) };

/** The figures of a batch that would run the valid items, from its start time, by the wave formula. */
const planOf = (settings: BatchSettings, workflow: WorkflowVersion, problems: RowProblems): BatchPlanResponse => {
  const validItems = problems.rows - problems.invalidRows;
  const waves = Math.ceil(validItems / settings.maxConcurrent);
  const lastAt = lastExecuteAtOf(Date.parse(settings.startAt), validItems, settings);
  return {
    total: problems.rows,
    validItems,
    invalidItems: problems.invalidRows,
    errors: problems.details,
    waves,
    startAt: settings.startAt,
    planEndsAt: lastAt === null ? null : new Date(lastAt).toISOString(),
    estimatedDurationSeconds: Math.max(waves - 1, 0) * settings.batchIntervalSeconds,
    estimatedCost: workflow.cost === undefined ? null : costOf(validItems, workflow.cost),
  };
};
