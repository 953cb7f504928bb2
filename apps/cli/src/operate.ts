import { userInfo } from 'node:os';
import { BatchCommandHandler } from '@flotilla/application';
import { DomainError, type BatchStatus } from '@flotilla/domain';
import type { EventStore } from '@flotilla/event-store';
import { BATCH_STATUSES } from '@flotilla/projections';
import { CliError } from './context';
import { batchAt, type BatchAt } from './state';

export type OperatorAction = 'pause' | 'resume' | 'cancel';

const COMMANDS = { pause: 'PauseBatch', resume: 'ResumeBatch', cancel: 'CancelBatch' } as const;

/** `--as <name>`, default the OS user: recorded as `operator/<name>`, so history tells an operator's CLI action from an API caller's. */
export const operatorActor = (name: string | undefined): string => {
  const given = (name ?? userInfo().username).trim();
  if (given === '' || given.length > 100 || /\s/.test(given))
    throw new CliError(`--as must be a name of 1 to 100 characters without spaces, not "${name ?? ''}"`);
  return `operator/${given}`;
};

/**
 * Pauses, resumes or cancels a batch through the same command handler the API uses: the decision
 * is the domain's, on the stream's latest state, and the append carries the revision it read, so
 * a service appending at the same time makes this re-read and decide again rather than overwrite.
 */
export const operate = async (
  store: EventStore,
  action: OperatorAction,
  batchId: string,
  options: { actor: string; reason: string },
): Promise<BatchAt> => {
  const reason = options.reason.trim();
  if (reason === '') throw new CliError('--reason must say why (it is recorded in the batch history)');
  const handler = new BatchCommandHandler(store, { maxCachedBatches: 0 });
  try {
    const result = await handler.handle(
      batchId,
      { type: COMMANDS[action], batchId, now: new Date(), actor: options.actor, reason },
      { actor: options.actor },
    );
    if (result.position === null) throw new CliError(`Nothing recorded: batch ${batchId} was already as asked`, 1);
    return await batchAt(store, batchId, { position: result.position });
  } catch (error) {
    if (error instanceof DomainError) throw new CliError(error.message, 1);
    throw error;
  }
};

export const parseStatus = (raw: string | undefined): BatchStatus | undefined => {
  if (raw === undefined) return undefined;
  if (!(BATCH_STATUSES as readonly string[]).includes(raw))
    throw new CliError(`--status must be one of ${BATCH_STATUSES.join(', ')}, not "${raw}"`);
  return raw as BatchStatus;
};
