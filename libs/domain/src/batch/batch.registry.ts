import { EventRegistry } from '../shared/event-registry';
import { DEFAULT_CATCH_UP } from './catch-up';
import { DEFAULT_BATCH_PRIORITY } from './priority';
import type { BatchCreated, BatchEvent, BatchEventType, BatchItemsChunkRecorded, BatchItemsDiscarded } from './batch.events';

/** Schema 1 of BatchCreated had no priority: those batches run at the default one. */
const defaultPriority = (data: unknown): unknown => ({
  ...(data as Omit<BatchCreated['data'], 'priority' | 'catchUp'>),
  priority: DEFAULT_BATCH_PRIORITY,
});

/** Schema 2 of BatchCreated had no catchUp: those batches catch up paced, the default. */
const defaultCatchUp = (data: unknown): unknown => ({
  ...(data as Omit<BatchCreated['data'], 'catchUp'>),
  catchUp: DEFAULT_CATCH_UP,
});

/** Every batch event type with its schema version. */
export const batchEvents = new EventRegistry<BatchEvent>({
  BatchCreated: { schemaVersion: 3, upcasters: { 1: defaultPriority, 2: defaultCatchUp } },
  BatchStarted: { schemaVersion: 1 },
  WaveDue: { schemaVersion: 1 },
  ExecutionTriggered: { schemaVersion: 1 },
  ExecutionCallsStarted: { schemaVersion: 1 },
  ExecutionAccepted: { schemaVersion: 1 },
  ExecutionAttemptFailed: { schemaVersion: 1 },
  ExecutionCompleted: { schemaVersion: 1 },
  ExecutionFailed: { schemaVersion: 1 },
  ExecutionCancelled: { schemaVersion: 1 },
  ExecutionRescheduled: { schemaVersion: 1 },
  BatchPaused: { schemaVersion: 1 },
  BatchResumed: { schemaVersion: 1 },
  BatchReconfigured: { schemaVersion: 1 },
  BatchReplanned: { schemaVersion: 1 },
  BatchHeld: { schemaVersion: 1 },
  BatchReleased: { schemaVersion: 1 },
  BatchCancelled: { schemaVersion: 1 },
  BatchCompleted: { schemaVersion: 1 },
  BatchSettled: { schemaVersion: 1 },
  BatchRetried: { schemaVersion: 1 },
  BatchThrottled: { schemaVersion: 1 },
  BatchThrottleLifted: { schemaVersion: 1 },
});

/** The events of a batch's items stream. */
export const batchItemsEvents = new EventRegistry<BatchItemsChunkRecorded | BatchItemsDiscarded>({
  BatchItemsChunkRecorded: { schemaVersion: 1 },
  BatchItemsDiscarded: { schemaVersion: 1 },
});

export const batchEventTypes: readonly BatchEventType[] = batchEvents.types;

export const isBatchEvent = (event: { type: string }): event is BatchEvent => batchEvents.has(event.type);
