import {
  decide,
  evolve,
  fromBatchSnapshot,
  initialBatchState,
  isBatch,
  batchEvents,
  toBatchSnapshot,
  type BatchCommand,
  type BatchEvent,
  type BatchState,
} from '@flotilla/domain';
import { streamName, type EventStore } from '@flotilla/event-store';
import { decodeBatchSnapshot, encodeBatchSnapshot } from './batch-snapshot';
import { CommandHandler, type Decider } from './command-handler';

export const batchStream = (batchId: string): string => streamName('batch', batchId);
export const batchSnapshotStream = (batchId: string): string => streamName('batchsnapshot', batchId);

/** A snapshot is taken after this many events since the last one. */
export const SNAPSHOT_EVERY = 20_000;

export const batchDecider: Decider<BatchState, BatchCommand, BatchEvent> = {
  decide,
  evolve,
  initialState: initialBatchState,
  events: batchEvents,
};

/**
 * The batches: the command handler over the batch decider, with states cached per batch and
 * snapshotted every SNAPSHOT_EVERY events to `batchsnapshot-<id>`, so a million-item batch is folded
 * once, and a cold load reads the newest snapshot and the events after it (docs/adr/0001).
 */
export class BatchCommandHandler extends CommandHandler<BatchState, BatchCommand, BatchEvent> {
  constructor(
    store: EventStore,
    options: {
      maxCachedBatches?: number;
      maxAttempts?: number;
      /** Events between snapshots; 0 turns snapshots off (neither read nor written). */
      snapshotEvery?: number;
      /** Told of every group of appended events and the batch state they led to (the metrics). */
      onAppended?: (events: readonly BatchEvent[], state: BatchState) => void;
    } = {},
  ) {
    super(store, batchDecider, {
      streamOf: batchStream,
      ...(options.maxCachedBatches === undefined ? {} : { maxCachedStates: options.maxCachedBatches }),
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      ...(options.onAppended === undefined ? {} : { onAppended: options.onAppended }),
      snapshots: {
        every: options.snapshotEvery ?? SNAPSHOT_EVERY,
        stream: batchSnapshotStream,
        eventType: 'BatchSnapshotTaken',
        encode: (state) => (isBatch(state) ? encodeBatchSnapshot(toBatchSnapshot(state)) : null),
        decode: (payload) => fromBatchSnapshot(decodeBatchSnapshot(payload)),
      },
    });
  }
}
