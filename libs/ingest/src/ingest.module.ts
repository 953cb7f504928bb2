import { AbandonedIntakes } from './abandoned-intakes';
import { BatchEventsController } from './batch-events.controller';
import { Module } from '@nestjs/common';
import { BatchIntakeService } from './batch-intake.service';
import { BatchesController } from './batches.controller';
import { ExecutionsController } from './executions.controller';
import { ReadModelsService } from './read-models.service';
import { ResultsController } from './results.controller';
import { WorkflowHolds } from './workflow-holds';
import { WorkflowTeams } from './workflow-teams';
import { WorkflowsController } from './workflows.controller';
import { WorkflowRunsController } from './extend/workflow-runs.controller';

/**
 * The REST API: workflows, batches (JSON and CSV), executions, history, and the Extend-compatible
 * workflow runs; reads from the projections. Makes the batches of a held workflow follow its hold (WorkflowHolds),
 * and discards the items of intakes their process left unfinished (AbandonedIntakes).
 */
@Module({
  // BatchEventsController first: its `events` routes must match before BatchesController's `:id`.
  controllers: [
    BatchEventsController,
    WorkflowsController,
    BatchesController,
    ExecutionsController,
    ResultsController,
    WorkflowRunsController,
  ],
  providers: [BatchIntakeService, ReadModelsService, WorkflowHolds, WorkflowTeams, AbandonedIntakes],
  exports: [ReadModelsService],
})
export class IngestModule {}
