import { EventRegistry } from '../shared/event-registry';
import { DEFAULT_BATCH_PRIORITY } from './priority';
import type { BatchCreated, BatchEvent, BatchEventType, BatchItemsChunkRecorded } from './batch.events';

/** Schema 1 of BatchCreated had no priority: those batches run at the default one. */
const defaultPriority = (data: unknown): unknown => ({
  ...(data as Omit<BatchCreated['data'], 'priority'>),
  priority: DEFAULT_BATCH_PRIORITY,
});

/** Every batch event type with its schema version. */
export const batchEvents = new EventRegistry<BatchEvent>({
  BatchCreated: { schemaVersion: 2, upcasters: { 1: defaultPriority } },
  BatchStarted: { schemaVersion: 1 },
  WaveDue: { schemaVersion: 1 },
  ExecutionTriggered: { schemaVersion: 1 },
  ExecutionAccepted: { schemaVersion: 1 },
  ExecutionAttemptFailed: { schemaVersion: 1 },
  ExecutionCompleted: { schemaVersion: 1 },
  ExecutionFailed: { schemaVersion: 1 },
  ExecutionCancelled: { schemaVersion: 1 },
  ExecutionRescheduled: { schemaVersion: 1 },
  BatchPaused: { schemaVersion: 1 },
  BatchResumed: { schemaVersion: 1 },
  BatchCancelled: { schemaVersion: 1 },
  BatchCompleted: { schemaVersion: 1 },
  BatchSettled: { schemaVersion: 1 },
  BatchRetried: { schemaVersion: 1 },
});

/** The events of a batch's items stream. */
export const batchItemsEvents = new EventRegistry<BatchItemsChunkRecorded>({ BatchItemsChunkRecorded: { schemaVersion: 1 } });

export const batchEventTypes: readonly BatchEventType[] = batchEvents.types;

export const isBatchEvent = (event: { type: string }): event is BatchEvent => batchEvents.has(event.type);
