import { DomainError, RuleViolation, type Problem } from '../shared/errors';
import { httpUrlProblems } from '../shared/url';

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
  /** How long one call may take (sync), or how long to wait for the callback (async). */
  readonly timeoutMs: number;
  readonly mode: TargetMode;
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  /** Base delay of the exponential backoff (doubled per attempt, with jitter). */
  readonly backoffMs: number;
}

export interface WorkflowDefinition {
  readonly name: string;
  readonly inputs: readonly WorkflowInput[];
  readonly target: WorkflowTarget;
  readonly retry: RetryPolicy;
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

export type WorkflowEvent = WorkflowVersionAdded;

export interface Workflow {
  readonly id: string;
  readonly versions: readonly WorkflowVersion[];
}

export type WorkflowState = Workflow | null;

export const evolveWorkflow = (state: WorkflowState, event: WorkflowEvent): WorkflowState => {
  if (event.type !== 'WorkflowVersionAdded') return state;
  const { occurredAt, actor: _actor, ...version } = event.data;
  const versions = [...(state?.versions ?? []), { ...version, createdAt: occurredAt }];
  return { id: event.data.workflowId, versions };
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
    super(`Workflow ${workflowId} already exists; add a version with POST /v1/workflows/${workflowId}/versions`);
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

export type AddWorkflowVersion = {
  readonly type: 'AddWorkflowVersion';
  readonly workflowId: string;
  /** True for `POST /v1/workflows` (the workflow must be new), false for a new version of an existing one. */
  readonly isNew: boolean;
  readonly definition: WorkflowDefinition;
  readonly actor: string;
  readonly now: Date;
};

export const decideWorkflow = (command: AddWorkflowVersion, state: WorkflowState): WorkflowEvent[] => {
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
  if (!Number.isInteger(definition.target.timeoutMs) || definition.target.timeoutMs < 1 || definition.target.timeoutMs > 86_400_000)
    problem('target.timeoutMs', 'target.timeoutMs must be an integer from 1 to 86400000');
  if (!Number.isInteger(definition.retry.maxAttempts) || definition.retry.maxAttempts < 1 || definition.retry.maxAttempts > 100)
    problem('retry.maxAttempts', 'retry.maxAttempts must be an integer from 1 to 100');
  if (!Number.isInteger(definition.retry.backoffMs) || definition.retry.backoffMs < 0 || definition.retry.backoffMs > 3_600_000)
    problem('retry.backoffMs', 'retry.backoffMs must be an integer from 0 to 3600000');
  return problems;
};

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, backoffMs: 500 };
