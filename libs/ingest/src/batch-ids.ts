import { newId } from '@flotilla/application';

/** A new batch id, sorting by the time the batch was asked for: `bat_…`. */
export const newBatchId = (now: Date): string => newId('bat', now.getTime());
