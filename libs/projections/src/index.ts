export * from './projection';
export * from './projection-runner';
export * from './batch-summary.projection';
export * from './batch-executions.projection';
export * from './batch-history.projection';
export * from './batch-views';
export * from './batch-queries';
export * from './batch-results';
export * from './workflow-costs.projection';
export * from './workflow-runs';
export * from './workflow-run-queries';

import { BatchExecutionsProjection } from './batch-executions.projection';
import { BatchHistoryProjection } from './batch-history.projection';
import { BatchSummaryProjection } from './batch-summary.projection';
import type { Projection } from './projection';
import { WorkflowCostsProjection } from './workflow-costs.projection';

/** The read models the REST API serves. */
export const batchProjections = (): Projection[] => [
  new BatchSummaryProjection(),
  new BatchExecutionsProjection(),
  new BatchHistoryProjection(),
  new WorkflowCostsProjection(),
];
export * from './waves-reader';
