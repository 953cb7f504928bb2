import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BatchCommandHandler, WorkflowRepository } from '@flotilla/application';
import {
  BatchAlreadyHeld,
  BatchNotFound,
  BatchNotHeld,
  IllegalBatchTransition,
  batchEvents,
  isBatch,
  workflowEvents,
  type BatchCommand,
  type BatchState,
  type Workflow,
} from '@flotilla/domain';
import { consumeEvents, type MessageConsumer, type MessageTransport } from '@flotilla/messaging';
import { CLOCK, MESSAGE_TRANSPORT, type Clock } from '@flotilla/platform';
import { ReadModelsService } from './read-models.service';

export const WORKFLOW_HOLDS_GROUP = 'ingest-workflow-holds';
export const NEW_BATCH_HOLDS_GROUP = 'ingest-new-batch-holds';

/**
 * Makes the batches of a workflow follow its hold: after WorkflowHeld every batch of it whose
 * executions may still be called is held (BatchHeld), after WorkflowReleased every batch it held is
 * released (BatchReleased, which re-plans a running batch from then).
 *
 * Durable because it is a consumer of the transport, like the scheduler and the executor: a message
 * is acknowledged only once its batches are done, so a process that dies right after WorkflowHeld
 * was appended holds the batches when it is back. Each batch is reconciled with the workflow's
 * current state, not with the message, so redeliveries and a hold and release in quick succession
 * both end where the workflow is; a batch already where it should be gets nothing.
 *
 * Which batches: the read model's, once it has applied the workflow event (so every batch created
 * before it is listed). A batch created while the workflow is held starts held (the intake reads the
 * workflow just before it creates the batch); the one read before a hold and created after it is
 * caught by the second group, which reconciles every new batch with its workflow.
 *
 * It lives in the ingest service: that is where the read model listing a workflow's batches is, and
 * in distributed mode (apps/ingest-api) each ingest process runs it as one consumer group.
 */
@Injectable()
export class WorkflowHolds implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumers: MessageConsumer[] = [];

  constructor(
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    private readonly workflows: WorkflowRepository,
    private readonly batches: BatchCommandHandler,
    private readonly readModels: ReadModelsService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.consumers = [
      await consumeEvents(
        this.transport,
        { group: WORKFLOW_HOLDS_GROUP, events: workflowEvents.subset('WorkflowHeld', 'WorkflowReleased'), ordering: 'key', concurrency: 4 },
        async (message) => {
          await this.readModels.settle(BigInt(message.position));
          const workflow = await this.workflows.load(message.data.workflowId);
          if (workflow === null) return;
          const causation = { causationId: message.id };
          for (const batchId of this.readModels.queries.holdableBatchIdsOf(workflow.id))
            await this.reconcile(batchId, workflow, message.type === 'WorkflowReleased' ? message.data : undefined, causation);
        },
      ),
      await consumeEvents(
        this.transport,
        { group: NEW_BATCH_HOLDS_GROUP, events: batchEvents.subset('BatchCreated'), ordering: 'none', concurrency: 8 },
        async (message) => {
          const { batchId, workflowId } = message.data;
          const workflow = await this.workflows.load(workflowId);
          if (workflow === null) return;
          // Most batches are where their workflow is: the read model (which has the creation's own
          // BatchHeld once it reached this position) says so without loading the batch's state, which
          // matters when a new group replays every BatchCreated of an existing store.
          await this.readModels.settle(BigInt(message.position));
          const heldBy = this.readModels.queries.getBatch(batchId)?.heldBy ?? null;
          if ((workflow.held !== null) === (heldBy !== null)) return;
          await this.reconcile(batchId, workflow, undefined, { causationId: message.id });
        },
      ),
    ];
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.stop()));
    this.consumers = [];
  }

  private async reconcile(
    batchId: string,
    workflow: Workflow,
    release: Release | undefined,
    metadata: { causationId: string },
  ): Promise<void> {
    try {
      await this.batches.handle(batchId, (state) => this.commandFor(state, batchId, workflow, release), {
        actor: workflow.held?.actor ?? release?.actor ?? 'system',
        ...metadata,
      });
    } catch (error) {
      // Already where the workflow is (another delivery got there first), settled, or gone: nothing to do.
      if (error instanceof NoChange || error instanceof BatchAlreadyHeld || error instanceof BatchNotHeld) return;
      if (error instanceof IllegalBatchTransition || error instanceof BatchNotFound) return;
      throw error;
    }
  }

  private commandFor(state: BatchState, batchId: string, workflow: Workflow, release: Release | undefined): BatchCommand {
    if (!isBatch(state)) throw new BatchNotFound(batchId);
    const now = this.clock.now();
    const hold = workflow.held;
    if (hold !== null && state.held === null && state.settledAt === null)
      return { type: 'HoldBatch', batchId, by: 'workflow', reason: hold.reason, actor: hold.actor, now };
    if (hold === null && state.held?.by === 'workflow')
      return {
        type: 'ReleaseBatch',
        batchId,
        reason: release?.reason ?? `workflow ${workflow.id} was released`,
        actor: release?.actor ?? 'system',
        now,
      };
    throw new NoChange();
  }
}

/** Who released the workflow and why, when a WorkflowReleased is being followed. */
interface Release {
  readonly reason: string;
  readonly actor: string;
}

/** The batch is where its workflow's hold says it should be. */
class NoChange extends Error {}
