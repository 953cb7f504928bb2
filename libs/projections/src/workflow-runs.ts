import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { findVersion, type ExecutionState, type Metadata, type Workflow } from '@flotilla/domain';
import { ApiJsonValue } from './batch-views';

/**
 * Workflow runs: the executions of batches seen through Extend's vocabulary, for the
 * Extend-compatible API (`/workflow_runs`) and the Extend-format webhooks. A workflow run is one
 * execution; its id is the execution id (`<batchId>.<index>`), so the same id works on
 * `/v1/executions/{id}` and `/workflow_runs/{id}`. The shapes follow the `extend-ai` SDK's types
 * (`WorkflowRun`, `WorkflowRunSummary`): fields Flotilla has no meaning for are present and null,
 * `false` or empty arrays.
 */

export const WORKFLOW_RUN_STATUSES = ['PENDING', 'PROCESSING', 'PROCESSED', 'FAILED', 'CANCELLED'] as const;
export type WorkflowRunStatus = (typeof WORKFLOW_RUN_STATUSES)[number];

/** Every execution state once: a new state is a compile error here until it is mapped. */
const STATUS_OF_STATE: Record<ExecutionState, WorkflowRunStatus> = {
  pending: 'PENDING',
  triggered: 'PROCESSING',
  completed: 'PROCESSED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
};

export const runStatusOf = (state: ExecutionState): WorkflowRunStatus => STATUS_OF_STATE[state];

export const executionStateOf = (status: WorkflowRunStatus): ExecutionState =>
  (Object.keys(STATUS_OF_STATE) as ExecutionState[]).find((state) => STATUS_OF_STATE[state] === status) ?? 'pending';

export class WorkflowSummaryView {
  @ApiProperty({ enum: ['workflow'] })
  object!: 'workflow';
  @ApiProperty({ example: 'parse-invoice', description: 'The Flotilla workflow id.' })
  id!: string;
  @ApiProperty()
  name!: string;
  @ApiProperty({ format: 'date-time', description: 'When version 1 was registered.' })
  createdAt!: string;
  @ApiProperty({ format: 'date-time', description: 'When its latest version was added.' })
  updatedAt!: string;
  @ApiProperty({ type: Object, nullable: true, description: 'Always null: Flotilla has no users yet.' })
  createdBy!: null;
}

export class WorkflowVersionSummaryView {
  @ApiProperty({ enum: ['workflow_version'] })
  object!: 'workflow_version';
  @ApiProperty({ example: 'parse-invoice@1', description: '`<workflowId>@<version>`.' })
  id!: string;
  @ApiProperty({ example: '1', description: 'The version number, as a string.' })
  version!: string;
  @ApiProperty({ type: String, nullable: true })
  name!: string | null;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ type: Object, nullable: true, description: 'Always null.' })
  createdBy!: null;
}

export class FileSummaryView {
  @ApiProperty({ enum: ['file'] })
  object!: 'file';
  @ApiProperty({ description: 'The input file id when one was given, else `<runId>.file`.' })
  id!: string;
  @ApiProperty({ description: 'The name given, else the last part of the URL, else `file`.' })
  name!: string;
  @ApiProperty({ type: String, nullable: true, description: 'Always null: Flotilla does not look at the file.' })
  type!: null;
  @ApiProperty({ type: String, nullable: true })
  parentFileId!: null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Always empty.' })
  metadata!: Record<string, never>;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

/** What `GET /workflow_runs` lists. */
export class WorkflowRunSummaryView {
  @ApiProperty({ enum: ['workflow_run'] })
  object!: 'workflow_run';
  @ApiProperty({ example: 'bat_01jx5c3n8e7w6h2q9r4t5v6w7x.0', description: 'The execution id, `<batchId>.<index>`.' })
  id!: string;
  @ApiProperty({ enum: WORKFLOW_RUN_STATUSES })
  status!: WorkflowRunStatus;
  @ApiProperty({ type: WorkflowSummaryView })
  workflow!: WorkflowSummaryView;
  @ApiProperty({ type: WorkflowVersionSummaryView })
  workflowVersion!: WorkflowVersionSummaryView;
  @ApiProperty({ description: 'Where the execution is on this API: `<PUBLIC_URL>/v1/executions/<id>`.' })
  dashboardUrl!: string;
  @ApiProperty({ type: String, nullable: true })
  reviewedByUser!: null;
  @ApiProperty({ type: String, nullable: true })
  reviewedAt!: null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it was first triggered.' })
  initialRunAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it was triggered.' })
  startTime!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When its outcome came, or it was cancelled.' })
  endTime!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The Flotilla batch id.' })
  batchId!: string | null;
  @ApiProperty({ type: String, nullable: true })
  rejectionNote!: null;
  @ApiProperty({ type: [FileSummaryView] })
  files!: FileSummaryView[];
  @ApiProperty({ format: 'date-time', description: 'When its batch was created.' })
  createdAt!: string;
  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
  @ApiProperty({ type: Object, nullable: true, description: 'Always null.' })
  usage!: null;
}

/** What `GET /workflow_runs/{id}` answers, and the `payload` of an Extend-format webhook. */
export class WorkflowRunView extends WorkflowRunSummaryView {
  @ApiProperty({ type: 'object', additionalProperties: true, description: "The input's metadata, any JSON, as given." })
  metadata!: Metadata;
  @ApiProperty({ type: String, nullable: true, description: 'FAILED: `target_error`, or `http_<status>` when the target answered.' })
  failureReason!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'FAILED: the error.' })
  failureMessage!: string | null;
  @ApiProperty()
  reviewed!: false;
  @ApiProperty({ type: [Object], description: 'Always empty: a Flotilla workflow is one target call.' })
  stepRuns!: never[];
  @ApiJsonValue({ required: false, description: "PROCESSED: the target's answer (any JSON); else null." })
  output!: unknown;
  @ApiPropertyOptional({ type: Number, nullable: true, description: 'Attempts made so far.' })
  attempts!: number;
}

/** The facts a workflow run is built from, wherever they are read (the read models, or the notifier's batch state). */
export interface RunFacts {
  readonly batchId: string;
  readonly index: number;
  readonly state: ExecutionState;
  readonly workflow: { readonly id: string; readonly name: string; readonly createdAt: string; readonly updatedAt: string };
  readonly version: { readonly version: number; readonly name: string; readonly createdAt: string };
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly metadata: Metadata;
  readonly batchCreatedAt: string;
  readonly triggeredAt: string | null;
  readonly endedAt: string | null;
  readonly output: unknown;
  readonly error: string | null;
  readonly statusCode: number | null;
  readonly attempts: number;
  /** The API's public base URL, for `dashboardUrl`. */
  readonly publicUrl: string;
}

const fileNameOf = (file: Record<string, unknown>): string => {
  if (typeof file['name'] === 'string' && file['name'] !== '') return file['name'];
  if (typeof file['url'] === 'string') {
    const last = file['url'].split(/[?#]/)[0]?.split('/').filter(Boolean).pop();
    if (last !== undefined && last !== '' && !last.includes(':')) return decodeURIComponentSafe(last);
  }
  return 'file';
};

const decodeURIComponentSafe = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The run of one execution. The input named `file` (an object) is its one file. */
export const workflowRunOf = (facts: RunFacts): WorkflowRunView => {
  const id = `${facts.batchId}.${facts.index}`;
  const file = facts.inputs['file'];
  const files: FileSummaryView[] = isObject(file)
    ? [
        {
          object: 'file',
          id: typeof file['id'] === 'string' ? file['id'] : `${id}.file`,
          name: fileNameOf(file),
          type: null,
          parentFileId: null,
          metadata: {},
          createdAt: facts.batchCreatedAt,
          updatedAt: facts.batchCreatedAt,
        },
      ]
    : [];
  const failed = facts.state === 'failed';
  return {
    object: 'workflow_run',
    id,
    status: runStatusOf(facts.state),
    workflow: { object: 'workflow', ...facts.workflow, createdBy: null },
    workflowVersion: {
      object: 'workflow_version',
      id: `${facts.workflow.id}@${facts.version.version}`,
      version: String(facts.version.version),
      name: facts.version.name,
      createdAt: facts.version.createdAt,
      createdBy: null,
    },
    dashboardUrl: `${facts.publicUrl.replace(/\/+$/, '')}/v1/executions/${encodeURIComponent(id)}`,
    metadata: facts.metadata,
    batchId: facts.batchId,
    files,
    failureReason: failed ? (facts.statusCode === null ? 'target_error' : `http_${facts.statusCode}`) : null,
    failureMessage: failed ? (facts.error ?? 'failed') : null,
    initialRunAt: facts.triggeredAt,
    reviewedByUser: null,
    reviewed: false,
    rejectionNote: null,
    reviewedAt: null,
    startTime: facts.triggeredAt,
    endTime: facts.endedAt,
    stepRuns: [],
    usage: null,
    output: facts.state === 'completed' ? facts.output : null,
    attempts: facts.attempts,
    createdAt: facts.batchCreatedAt,
    updatedAt: facts.endedAt ?? facts.triggeredAt ?? facts.batchCreatedAt,
  };
};

/** The `workflow` of a run: the workflow's id, its latest name, and when its first and latest versions were added. */
export const workflowSummaryOf = (workflow: Workflow): { id: string; name: string; createdAt: string; updatedAt: string } => {
  const first = workflow.versions[0];
  const last = workflow.versions[workflow.versions.length - 1];
  return { id: workflow.id, name: last?.name ?? workflow.id, createdAt: first?.createdAt ?? '', updatedAt: last?.createdAt ?? '' };
};

/** The `workflowVersion` of a run. */
export const versionOf = (workflow: Workflow, version: number): { version: number; name: string; createdAt: string } => {
  const found = findVersion(workflow, version);
  return { version, name: found?.name ?? workflow.id, createdAt: found?.createdAt ?? '' };
};
