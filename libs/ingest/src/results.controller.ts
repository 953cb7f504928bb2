import { Controller, Get, Logger, Param, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags, getSchemaPath, ApiExtraModels } from '@nestjs/swagger';
import { WorkflowRepository } from '@flotilla/application';
import { BatchNotFound } from '@flotilla/domain';
import { ApiErrors } from '@flotilla/platform';
import { ExecutionResult } from '@flotilla/projections';
import type { Response } from 'express';
import { ResultsQueryDto } from './dto';
import { ReadModelsService } from './read-models.service';
import { OwnTeamOnly } from './team-scope';
import { RESULT_CONTENT_TYPES, csvColumns, resultChunks, resultsFileName, writeWithBackpressure } from './results-export';
import { resolveWorkflowVersion } from './workflow-versions';

@ApiTags('batches')
@ApiExtraModels(ExecutionResult)
@Controller('v1/batches')
export class ResultsController {
  private readonly logger = new Logger('Results');

  constructor(
    private readonly readModels: ReadModelsService,
    private readonly workflows: WorkflowRepository,
  ) {}

  @Get(':id/results')
  @OwnTeamOnly()
  @ApiOperation({
    operationId: 'exportBatchResults',
    summary: 'Every execution of the batch with its outcome so far, in index order, as CSV, a JSON array or JSON Lines',
    description:
      'Streams while the batch runs (partial results: whatever outcomes exist when each page is read). CSV: for a batch made ' +
      'from a CSV upload, its mapped columns under their original headers and in their order, so the file (say, the failed ' +
      'rows, fixed) can be uploaded again with the same mapping; for a JSON batch, one column per workflow input, `profile` ' +
      'and `metadata.<key>` per metadata key; then `status`, `output` (JSON text), `error` and `attempts`. Cells that begin ' +
      "with =, +, -, @, a tab or a carriage return get a leading '. Sent as an attachment named after the batch.",
  })
  @ApiProduces(RESULT_CONTENT_TYPES.csv, RESULT_CONTENT_TYPES.json, RESULT_CONTENT_TYPES.jsonl)
  @ApiOkResponse({
    description: 'The results, in the format asked for (`Content-Disposition: attachment`).',
    content: {
      [RESULT_CONTENT_TYPES.csv]: { schema: { type: 'string', description: 'RFC 4180 CSV, header row first.' } },
      [RESULT_CONTENT_TYPES.json]: { schema: { type: 'array', items: { $ref: getSchemaPath(ExecutionResult) } } },
      [RESULT_CONTENT_TYPES.jsonl]: { schema: { type: 'string', description: 'One ExecutionResult JSON object per line.' } },
    },
  })
  @ApiErrors({
    400: 'format is not csv, json or jsonl, or status is not pending, triggered, completed, failed or cancelled.',
    404: 'No batch has this id.',
  })
  async results(@Param('id') id: string, @Query() query: ResultsQueryDto, @Res() response: Response): Promise<void> {
    const batch = this.readModels.queries.getBatch(id);
    if (batch === null) throw new BatchNotFound(id);
    const format = query.format ?? 'json';
    const source = this.readModels.results.source(id);
    // A JSON batch's CSV columns are its workflow's inputs: looked up before the first byte, so an error is still an answer.
    const inputs =
      format === 'csv' && source === null
        ? (await resolveWorkflowVersion(this.workflows, batch.workflowId, batch.workflowVersion)).inputs
        : [];
    response.status(200);
    response.setHeader('Content-Type', `${RESULT_CONTENT_TYPES[format]}; charset=utf-8`);
    response.setHeader('Content-Disposition', `attachment; filename="${resultsFileName(batch.name, format, query.status)}"`);
    response.setHeader('Cache-Control', 'no-store');
    const columns = () => csvColumns(source, inputs, source === null ? this.readModels.results.metadataKeys(id) : []);
    try {
      await writeWithBackpressure(response, resultChunks(this.readModels.results, id, format, query.status, columns));
    } catch (error) {
      // The status line is gone: all that is left is to cut the body short, so the client sees it incomplete.
      this.logger.error(`The results of batch ${id} stopped: ${String(error)}`);
      response.destroy();
    }
  }
}
