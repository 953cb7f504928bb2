import type { ItemsReader, WorkflowRepository } from '@flotilla/application';
import { executionIdOf, extendTypeOf, type Batch, type ExecutionState, type ExtendWebhookEventType } from '@flotilla/domain';
import { versionOf, workflowRunOf, workflowSummaryOf, type WorkflowRunView } from '@flotilla/projections';

/**
 * Extend-format webhook bodies: `{ eventId, eventType, payload: WorkflowRun }`, the run built the
 * way `GET /workflow_runs/{id}` builds it (one mapping, `workflowRunOf`), from the batch state, the
 * item and the event. The notifier does not keep trigger times, so `initialRunAt` and `startTime`
 * are null in webhook payloads; `endTime` is the event's time.
 */

export interface ExtendWebhookBody {
  readonly eventId: string;
  readonly eventType: ExtendWebhookEventType;
  readonly payload: WorkflowRunView;
}

/** One body per run the event concerns, with the key it is queued and deduplicated under. */
export interface ExtendDelivery {
  readonly eventId: string;
  readonly eventType: ExtendWebhookEventType;
  readonly executionId: string;
  readonly body: string;
}

/**
 * A batch-wide cancel announces `workflow_run.cancelled` for each run it cancelled only in batches
 * of at most this many executions (every batch of `POST /workflow_runs/batch` is): a batch of a
 * million would otherwise send a million webhooks for one operator action.
 */
export const MAX_CANCELLED_RUN_WEBHOOKS = 1000;

/**
 * A cancelled run's webhook has one key whichever event cancelled it, so the delivery queue's
 * (webhook, event) idempotence sends it once: a run cancelled on its own, then swept by the batch's
 * cancel, is not announced twice.
 */
const cancelledKey = (executionId: string): string => `run-cancelled:${executionId}`;

interface EventData {
  readonly batchId: string;
  readonly index?: number;
  readonly output?: unknown;
  readonly error?: string;
  readonly statusCode?: number;
  readonly attempts?: number;
}

export interface ExtendMessage {
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly data: EventData;
}

export const extendDeliveries = async (
  message: ExtendMessage,
  batch: Batch,
  deps: { readonly items: ItemsReader; readonly workflows: WorkflowRepository; readonly publicUrl: string },
): Promise<ExtendDelivery[]> => {
  const eventType = extendTypeOf(message.type);
  if (eventType === undefined) return [];
  const workflow = await deps.workflows.load(batch.settings.workflowId);
  if (workflow === null) throw new Error(`Workflow ${batch.settings.workflowId} of batch ${batch.id} does not exist`);
  const indexes =
    message.type === 'BatchCancelled' ? cancelledIndexes(batch) : message.data.index === undefined ? [] : [message.data.index];
  const deliveries: ExtendDelivery[] = [];
  for (const index of indexes) {
    const item = await deps.items.get(batch.items, index);
    const state = stateOf(message.type);
    const payload = workflowRunOf({
      batchId: batch.id,
      index,
      state,
      workflow: workflowSummaryOf(workflow),
      version: versionOf(workflow, batch.settings.workflowVersion),
      inputs: item.inputs,
      metadata: { ...batch.settings.metadata, ...item.metadata },
      batchCreatedAt: batch.createdAt,
      triggeredAt: null,
      endedAt: message.occurredAt,
      output: message.data.output ?? null,
      error: message.data.error ?? null,
      statusCode: message.data.statusCode ?? null,
      attempts: message.data.attempts ?? 0,
      publicUrl: deps.publicUrl,
    });
    const executionId = executionIdOf(batch.id, index);
    const eventId = state === 'cancelled' ? cancelledKey(executionId) : message.id;
    const body: ExtendWebhookBody = { eventId, eventType, payload };
    deliveries.push({ eventId, eventType, executionId, body: JSON.stringify(body) });
  }
  return deliveries;
};

const stateOf = (type: string): ExecutionState =>
  type === 'ExecutionCompleted' ? 'completed' : type === 'ExecutionFailed' ? 'failed' : 'cancelled';

/** The cancelled runs of a batch as it is now (bounded, see MAX_CANCELLED_RUN_WEBHOOKS); those cancelled before are deduplicated by key. */
const cancelledIndexes = (batch: Batch): number[] => {
  const total = batch.counts.total;
  if (total > MAX_CANCELLED_RUN_WEBHOOKS) return [];
  const indexes: number[] = [];
  for (let index = 0; index < total; index++) if (batch.executions.stateOf(index) === 'cancelled') indexes.push(index);
  return indexes;
};
