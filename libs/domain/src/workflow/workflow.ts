import { DomainError, RuleViolation, type Problem } from '../shared/errors';
import { httpUrlProblems } from '../shared/url';
import { columnSetOf, savedMappingProblems, type MappingRequest } from '../csv/mapping';

/**
 * A workflow is what a batch runs once per item: an HTTP target taking named inputs. Workflows are
 * versioned; a batch pins one version. Stream: `workflow-<id>`.
 */
export interface WorkflowInput {
  readonly name: string;
  /** Default true. */
  readonly required: boolean;
}

export type TargetMode = 'sync' | 'async';

export interface WorkflowTarget {
  readonly url: string;
  /** How long one HTTP call of the target may take, sync or async (at most MAX_CALL_TIMEOUT_MS). */
  readonly timeoutMs: number;
  readonly mode: TargetMode;
  /** Async: how long after the target accepted an execution its callback may come; past it the execution fails. */
  readonly callbackTimeoutMs: number;
}

/** How much of the executor one workflow may use. */
export interface WorkflowLimits {
  /** Calls of this workflow in flight at once, per executor process; absent: half the executor's slots. */
  readonly maxInFlight?: number;
  /** Calls of this workflow started in any one second, per executor process; absent: no such limit. */
  readonly maxPerSecond?: number;
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  /** Base delay of the exponential backoff (doubled per attempt, with jitter). */
  readonly backoffMs: number;
  /**
   * How long an execution may stay throttled (its target answering 429, and the executor holding its
   * calls back) without a successful call before it fails. 429s use up no attempt; this bounds them.
   */
  readonly maxThrottleSeconds: number;
}

/** What one execution of the workflow costs, as the team declares it; plans and batches estimate with it. */
export interface WorkflowCost {
  readonly perExecution: number;
  /** ISO 4217 style: three uppercase letters. */
  readonly currency: string;
}

/**
 * The pacing a batch of this version takes when its request names none: the Extend-compatible
 * `POST /workflow_runs/batch` has no pacing fields of its own. Either may be left out.
 */
export interface WorkflowDefaults {
  readonly maxConcurrent?: number;
  readonly batchIntervalSeconds?: number;
}

export interface WorkflowDefinition {
  readonly name: string;
  readonly inputs: readonly WorkflowInput[];
  readonly target: WorkflowTarget;
  readonly retry: RetryPolicy;
  readonly limits?: WorkflowLimits;
  readonly cost?: WorkflowCost;
  readonly defaults?: WorkflowDefaults;
}

export interface WorkflowVersion extends WorkflowDefinition {
  readonly workflowId: string;
  readonly version: number;
  readonly createdAt: string;
}

export type WorkflowVersionAdded = {
  readonly type: 'WorkflowVersionAdded';
  readonly data: WorkflowDefinition & {
    readonly workflowId: string;
    readonly version: number;
    readonly occurredAt: string;
    readonly actor: string;
  };
};

/**
 * No execution of the workflow is called until it is released, whatever batch it belongs to: a
 * target's maintenance window. Every unsettled batch of the workflow follows with BatchHeld.
 */
export type WorkflowHeld = {
  readonly type: 'WorkflowHeld';
  readonly data: { readonly workflowId: string; readonly reason: string; readonly occurredAt: string; readonly actor: string };
};

/** The hold ends: every batch it held follows with BatchReleased, which re-plans its pending executions from then. */
export type WorkflowReleased = {
  readonly type: 'WorkflowReleased';
  readonly data: { readonly workflowId: string; readonly reason: string; readonly occurredAt: string; readonly actor: string };
};

/**
 * The column mapping a team chose for CSVs with this set of headers (`columns`: sorted, each once),
 * so the same headers next time, on any machine, start from it. The latest one per set counts.
 */
export type ColumnMappingSaved = {
  readonly type: 'ColumnMappingSaved';
  readonly data: {
    readonly workflowId: string;
    readonly columns: readonly string[];
    readonly mapping: MappingRequest;
    readonly occurredAt: string;
    readonly actor: string;
  };
};

export type WorkflowEvent = WorkflowVersionAdded | WorkflowHeld | WorkflowReleased | ColumnMappingSaved;

/** Two column sets (each as columnSetOf gives it: sorted, each once) are the same set. */
const sameColumns = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((column, i) => column === b[i]);

/** A saved column mapping, by the set of headers it is for. */
export interface SavedColumnMapping {
  readonly columns: readonly string[];
  readonly mapping: MappingRequest;
  readonly savedAt: string;
  readonly savedBy: string;
}

/** Since when, why and by whom a workflow is held. */
export interface WorkflowHold {
  readonly since: string;
  readonly reason: string;
  readonly actor: string;
}

export interface Workflow {
  readonly id: string;
  readonly versions: readonly WorkflowVersion[];
  /** Null while calls of the workflow may be made. */
  readonly held: WorkflowHold | null;
  /** One per set of CSV headers, oldest saved first. */
  readonly mappings: readonly SavedColumnMapping[];
}

export type WorkflowState = Workflow | null;

export const evolveWorkflow = (state: WorkflowState, event: WorkflowEvent): WorkflowState => {
  switch (event.type) {
    case 'WorkflowVersionAdded': {
      const { occurredAt, actor: _actor, ...version } = event.data;
      const versions = [...(state?.versions ?? []), { ...version, createdAt: occurredAt }];
      return { id: event.data.workflowId, versions, held: state?.held ?? null, mappings: state?.mappings ?? [] };
    }
    case 'WorkflowHeld':
      if (state === null) return state;
      return { ...state, held: { since: event.data.occurredAt, reason: event.data.reason, actor: event.data.actor } };
    case 'WorkflowReleased':
      return state === null ? state : { ...state, held: null };
    case 'ColumnMappingSaved': {
      if (state === null) return state;
      const { columns, mapping, occurredAt, actor } = event.data;
      const others = state.mappings.filter((saved) => !sameColumns(saved.columns, columns));
      return { ...state, mappings: [...others, { columns, mapping, savedAt: occurredAt, savedBy: actor }] };
    }
    default: {
      const unknownEvent: never = event;
      void unknownEvent;
      return state;
    }
  }
};

export const latestVersion = (workflow: Workflow): WorkflowVersion => {
  const latest = workflow.versions[workflow.versions.length - 1];
  if (latest === undefined) throw new Error(`Workflow ${workflow.id} has no versions`);
  return latest;
};

export const findVersion = (workflow: Workflow, version: number): WorkflowVersion | undefined =>
  workflow.versions.find((candidate) => candidate.version === version);

export class WorkflowAlreadyExists extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'workflow_already_exists';
  constructor(readonly workflowId: string) {
    super(`Workflow ${workflowId} already exists; to change it, add a version`);
    this.name = 'WorkflowAlreadyExists';
  }
}

export class WorkflowNotFound extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'workflow_not_found';
  constructor(
    readonly workflowId: string,
    readonly version?: number,
  ) {
    super(version === undefined ? `Workflow ${workflowId} does not exist` : `Workflow ${workflowId} has no version ${version}`);
    this.name = 'WorkflowNotFound';
  }
}

export class WorkflowAlreadyHeld extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'workflow_already_held';
  constructor(
    readonly workflowId: string,
    readonly since: string,
  ) {
    super(`Workflow ${workflowId} is already held (since ${since}); release it first`);
    this.name = 'WorkflowAlreadyHeld';
  }
}

export class WorkflowNotHeld extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'workflow_not_held';
  constructor(readonly workflowId: string) {
    super(`Workflow ${workflowId} is not held: there is nothing to release`);
    this.name = 'WorkflowNotHeld';
  }
}

export type AddWorkflowVersion = {
  readonly type: 'AddWorkflowVersion';
  readonly workflowId: string;
  /** True when registering the workflow (it must be new), false for a new version of an existing one. */
  readonly isNew: boolean;
  readonly definition: WorkflowDefinition;
  readonly actor: string;
  readonly now: Date;
};

/** Hold every call of the workflow (`POST /v1/workflows/{id}/hold`). */
export type HoldWorkflow = {
  readonly type: 'HoldWorkflow';
  readonly workflowId: string;
  readonly reason: string;
  readonly actor: string;
  readonly now: Date;
};

/** End the hold (`POST /v1/workflows/{id}/release`). */
export type ReleaseWorkflow = {
  readonly type: 'ReleaseWorkflow';
  readonly workflowId: string;
  readonly reason: string;
  readonly actor: string;
  readonly now: Date;
};

/** Save the column mapping for CSVs with these headers (`PUT /v1/workflows/{id}/mappings`). */
export type SaveColumnMapping = {
  readonly type: 'SaveColumnMapping';
  readonly workflowId: string;
  readonly headers: unknown;
  readonly mapping: unknown;
  readonly actor: string;
  readonly now: Date;
};

export type WorkflowCommand = AddWorkflowVersion | HoldWorkflow | ReleaseWorkflow | SaveColumnMapping;

/** The saved mapping for a CSV with these headers, in any order; undefined when none was saved. */
export const savedMappingFor = (workflow: Workflow, headers: readonly string[]): SavedColumnMapping | undefined => {
  const columns = columnSetOf(headers);
  return workflow.mappings.find((saved) => sameColumns(saved.columns, columns));
};

/** A hold's reason goes into the history of every batch it holds: required, and kept short. */
export const MAX_HOLD_REASON_LENGTH = 500;

export const holdReasonProblems = (reason: unknown): Problem[] => {
  if (typeof reason === 'string' && reason.trim() !== '' && reason.length <= MAX_HOLD_REASON_LENGTH) return [];
  const message = `reason must be a non-empty string of at most ${MAX_HOLD_REASON_LENGTH} characters`;
  return [{ code: 'invalid_reason', field: 'reason', message }];
};

export const decideWorkflow = (command: WorkflowCommand, state: WorkflowState): WorkflowEvent[] => {
  switch (command.type) {
    case 'AddWorkflowVersion':
      return addWorkflowVersion(command, state);
    case 'HoldWorkflow':
    case 'ReleaseWorkflow':
      return holdOrRelease(command, state);
    case 'SaveColumnMapping':
      return saveColumnMapping(command, state);
    default: {
      const unknownCommand: never = command;
      throw new Error(`Unknown command ${(unknownCommand as { type: string }).type}`);
    }
  }
};

const saveColumnMapping = (command: SaveColumnMapping, state: WorkflowState): WorkflowEvent[] => {
  if (state === null) throw new WorkflowNotFound(command.workflowId);
  const problems = savedMappingProblems(command.headers, command.mapping);
  if (problems.length > 0) throw new RuleViolation(problems[0]?.message ?? 'The mapping is invalid', problems);
  const headers = command.headers as readonly string[];
  const mapping = command.mapping as MappingRequest;
  // The same mapping saved again changes nothing, and records nothing.
  const current = savedMappingFor(state, headers);
  if (current !== undefined && JSON.stringify(current.mapping) === JSON.stringify(mapping)) return [];
  const data = {
    workflowId: state.id,
    columns: columnSetOf(headers),
    mapping,
    occurredAt: command.now.toISOString(),
    actor: command.actor,
  };
  return [{ type: 'ColumnMappingSaved', data }];
};

const holdOrRelease = (command: HoldWorkflow | ReleaseWorkflow, state: WorkflowState): WorkflowEvent[] => {
  if (state === null) throw new WorkflowNotFound(command.workflowId);
  const problems = holdReasonProblems(command.reason);
  if (problems.length > 0) throw new RuleViolation(problems[0]?.message ?? 'reason is invalid', problems);
  const data = { workflowId: state.id, reason: command.reason, occurredAt: command.now.toISOString(), actor: command.actor };
  if (command.type === 'HoldWorkflow') {
    if (state.held !== null) throw new WorkflowAlreadyHeld(state.id, state.held.since);
    return [{ type: 'WorkflowHeld', data }];
  }
  if (state.held === null) throw new WorkflowNotHeld(state.id);
  return [{ type: 'WorkflowReleased', data }];
};

const addWorkflowVersion = (command: AddWorkflowVersion, state: WorkflowState): WorkflowEvent[] => {
  if (command.isNew && state !== null) throw new WorkflowAlreadyExists(command.workflowId);
  if (!command.isNew && state === null) throw new WorkflowNotFound(command.workflowId);
  const problems = validateWorkflowDefinition(command.definition);
  if (problems.length > 0) throw new RuleViolation('The workflow definition is invalid', problems);
  return [
    {
      type: 'WorkflowVersionAdded',
      data: {
        ...command.definition,
        workflowId: command.workflowId,
        version: (state?.versions.length ?? 0) + 1,
        occurredAt: command.now.toISOString(),
        actor: command.actor,
      },
    },
  ];
};

const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const isIntegerIn = (value: number, min: number, max: number): boolean => Number.isInteger(value) && value >= min && value <= max;

export const validateWorkflowDefinition = (definition: WorkflowDefinition): Problem[] => {
  const problems: Problem[] = [];
  const problem = (field: string, message: string): void => void problems.push({ code: 'invalid_workflow', field, message });
  if (definition.name.trim() === '') problem('name', 'name must not be empty');
  const seen = new Set<string>();
  definition.inputs.forEach((input, i) => {
    if (!INPUT_NAME.test(input.name)) {
      problem(`inputs[${i}].name`, `input name "${input.name}" must start with a letter or _ and hold only letters, digits and _`);
    }
    const key = input.name.toLowerCase();
    if (seen.has(key)) problem(`inputs[${i}].name`, `input "${input.name}" is declared twice (names are case-insensitive)`);
    seen.add(key);
  });
  problems.push(...httpUrlProblems(definition.target.url, 'target.url'));
  if (!isIntegerIn(definition.target.timeoutMs, 1, MAX_CALL_TIMEOUT_MS))
    problem(
      'target.timeoutMs',
      `target.timeoutMs must be an integer from 1 to ${MAX_CALL_TIMEOUT_MS} (15 minutes, one call of the target)`,
    );
  if (!isIntegerIn(definition.target.callbackTimeoutMs, 1, MAX_CALLBACK_TIMEOUT_MS))
    problem('target.callbackTimeoutMs', `target.callbackTimeoutMs must be an integer from 1 to ${MAX_CALLBACK_TIMEOUT_MS} (24 hours)`);
  const maxInFlight = definition.limits?.maxInFlight;
  if (maxInFlight !== undefined && !isIntegerIn(maxInFlight, 1, MAX_IN_FLIGHT_LIMIT))
    problem('limits.maxInFlight', `limits.maxInFlight must be an integer from 1 to ${MAX_IN_FLIGHT_LIMIT}`);
  const maxPerSecond = definition.limits?.maxPerSecond;
  if (maxPerSecond !== undefined && !isIntegerIn(maxPerSecond, 1, MAX_PER_SECOND_LIMIT))
    problem('limits.maxPerSecond', `limits.maxPerSecond must be an integer from 1 to ${MAX_PER_SECOND_LIMIT}`);
  if (!Number.isInteger(definition.retry.maxAttempts) || definition.retry.maxAttempts < 1 || definition.retry.maxAttempts > 100)
    problem('retry.maxAttempts', 'retry.maxAttempts must be an integer from 1 to 100');
  if (!Number.isInteger(definition.retry.backoffMs) || definition.retry.backoffMs < 0 || definition.retry.backoffMs > 3_600_000)
    problem('retry.backoffMs', 'retry.backoffMs must be an integer from 0 to 3600000');
  if (!isIntegerIn(definition.retry.maxThrottleSeconds, 1, MAX_THROTTLE_SECONDS))
    problem('retry.maxThrottleSeconds', `retry.maxThrottleSeconds must be an integer from 1 to ${MAX_THROTTLE_SECONDS} (7 days)`);
  const cost = definition.cost;
  if (cost !== undefined) {
    if (typeof cost.perExecution !== 'number' || !Number.isFinite(cost.perExecution) || cost.perExecution < 0)
      problem('cost.perExecution', 'cost.perExecution must be a number >= 0');
    if (typeof cost.currency !== 'string' || !/^[A-Z]{3}$/.test(cost.currency))
      problem('cost.currency', 'cost.currency must be 3 uppercase letters, like USD');
  }
  const defaults = definition.defaults;
  if (defaults?.maxConcurrent !== undefined && !isIntegerIn(defaults.maxConcurrent, 1, MAX_DEFAULT_CONCURRENCY))
    problem('defaults.maxConcurrent', `defaults.maxConcurrent must be an integer from 1 to ${MAX_DEFAULT_CONCURRENCY}`);
  const interval = defaults?.batchIntervalSeconds;
  if (interval !== undefined && (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0))
    problem('defaults.batchIntervalSeconds', 'defaults.batchIntervalSeconds must be a number >= 0');
  return problems;
};

/** The cost of `count` executions, rounded to 6 decimals (floating sums like 0.1 * 3 stay readable). */
export const costOf = (count: number, cost: WorkflowCost): { amount: number; currency: string } => ({
  amount: Math.round(count * cost.perExecution * 1e6) / 1e6,
  currency: cost.currency,
});

export const DEFAULT_TIMEOUT_MS = 30_000;
/** One call of a target: a sync call holds an executor slot for this long at most. */
export const MAX_CALL_TIMEOUT_MS = 900_000;
export const DEFAULT_CALLBACK_TIMEOUT_MS = 3_600_000;
export const MAX_CALLBACK_TIMEOUT_MS = 86_400_000;
export const MAX_IN_FLIGHT_LIMIT = 10_000;
/** The executor keeps the start times of the last maxPerSecond calls of a workflow: this bounds them. */
export const MAX_PER_SECOND_LIMIT = 10_000;
/** The largest wave a version's defaults may ask for: the batch settings' own bound on maxConcurrent. */
export const MAX_DEFAULT_CONCURRENCY = 10_000;
export const DEFAULT_MAX_THROTTLE_SECONDS = 3600;
/** A week: an execution throttled longer than that is better failed and retried as a new batch. */
export const MAX_THROTTLE_SECONDS = 7 * 24 * 3600;
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, backoffMs: 500, maxThrottleSeconds: DEFAULT_MAX_THROTTLE_SECONDS };
