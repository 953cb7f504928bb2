import {
  DEFAULT_BATCH_PRIORITY,
  DEFAULT_CATCH_UP,
  RuleViolation,
  validateBatchSettings,
  type BatchSettings,
  type WorkflowVersion,
} from '@flotilla/domain';
import type { BatchConfigDto } from './dto';

/**
 * The settings of a batch from its config, checked before any item is read so a bad config fails
 * fast. `now` is the start time when the config names none.
 */
export const batchSettingsOf = (config: BatchConfigDto, workflow: WorkflowVersion, now: Date): BatchSettings => {
  const settings: BatchSettings = {
    name: config.name,
    workflowId: workflow.workflowId,
    workflowVersion: workflow.version,
    startAt: config.startAt === undefined ? now.toISOString() : new Date(config.startAt).toISOString(),
    maxConcurrent: config.maxConcurrent,
    batchIntervalSeconds: config.batchIntervalSeconds,
    priority: config.priority ?? DEFAULT_BATCH_PRIORITY,
    ...(config.defaultProfile === undefined ? {} : { defaultProfile: config.defaultProfile }),
    ...(config.profilePool === undefined ? {} : { profilePool: config.profilePool }),
    metadata: config.metadata ?? {},
    ...(config.maxFailurePercent === undefined ? {} : { maxFailurePercent: config.maxFailurePercent }),
    ...(config.maxFailures === undefined ? {} : { maxFailures: config.maxFailures }),
    catchUp: config.catchUp ?? DEFAULT_CATCH_UP,
  };
  const problems = validateBatchSettings(settings);
  if (problems.length > 0) throw new RuleViolation(problems[0]?.message ?? 'The batch settings are invalid', problems);
  return settings;
};
