import { EventRegistry } from '../shared/event-registry';
import { DEFAULT_MAX_THROTTLE_SECONDS, MAX_CALL_TIMEOUT_MS, type WorkflowEvent, type WorkflowVersionAdded } from './workflow';

type TargetV1 = Omit<WorkflowVersionAdded['data']['target'], 'callbackTimeoutMs'>;

/**
 * Schema 1 of WorkflowVersionAdded had one `timeoutMs` for both the HTTP call and, for async targets,
 * the wait for the callback. Schema 2 splits them: the callback keeps the old figure as
 * `callbackTimeoutMs`, and the call's timeout is capped as new definitions are (15 minutes).
 */
const splitTimeouts = (data: unknown): unknown => {
  const v1 = data as Omit<WorkflowVersionAdded['data'], 'target'> & { readonly target: TargetV1 };
  return {
    ...v1,
    target: { ...v1.target, timeoutMs: Math.min(v1.target.timeoutMs, MAX_CALL_TIMEOUT_MS), callbackTimeoutMs: v1.target.timeoutMs },
  };
};

/**
 * Schema 2 had no `retry.maxThrottleSeconds`: 429s used up attempts then. Those versions get the
 * default bound on continuous throttling (an hour), as new definitions that leave it out do.
 */
const defaultMaxThrottle = (data: unknown): unknown => {
  const v2 = data as Omit<WorkflowVersionAdded['data'], 'retry'> & {
    readonly retry: Omit<WorkflowVersionAdded['data']['retry'], 'maxThrottleSeconds'>;
  };
  return { ...v2, retry: { ...v2.retry, maxThrottleSeconds: DEFAULT_MAX_THROTTLE_SECONDS } };
};

export const workflowEvents = new EventRegistry<WorkflowEvent>({
  WorkflowVersionAdded: { schemaVersion: 3, upcasters: { 1: splitTimeouts, 2: defaultMaxThrottle } },
  WorkflowHeld: { schemaVersion: 1 },
  WorkflowReleased: { schemaVersion: 1 },
  ColumnMappingSaved: { schemaVersion: 1 },
});
