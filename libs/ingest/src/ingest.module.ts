import { Module } from '@nestjs/common';
import { BatchIntakeService } from './batch-intake.service';
import { BatchesController } from './batches.controller';
import { ExecutionsController } from './executions.controller';
import { ReadModelsService } from './read-models.service';
import { ResultsController } from './results.controller';
import { WorkflowsController } from './workflows.controller';

/** The REST API: workflows, batches (JSON and CSV), executions, history; reads from the projections. */
@Module({
  controllers: [WorkflowsController, BatchesController, ExecutionsController, ResultsController],
  providers: [BatchIntakeService, ReadModelsService],
  exports: [ReadModelsService],
})
export class IngestModule {}
