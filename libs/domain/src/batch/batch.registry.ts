import { EventRegistry } from '../shared/event-registry';
import type { BatchEvent, BatchEventType, BatchItemsChunkRecorded } from './batch.events';

/** Every batch event type with its schema version (all at 1: nothing has been upcast yet). */
export const batchEvents = new EventRegistry<BatchEvent>({
  BatchCreated: { schemaVersion: 1 },
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
});

/** The events of a batch's items stream. */
export const batchItemsEvents = new EventRegistry<BatchItemsChunkRecorded>({ BatchItemsChunkRecorded: { schemaVersion: 1 } });

export const batchEventTypes: readonly BatchEventType[] = batchEvents.types;

export const isBatchEvent = (event: { type: string }): event is BatchEvent => batchEvents.has(event.type);
