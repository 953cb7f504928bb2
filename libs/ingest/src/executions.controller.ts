import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { BatchRepository } from '@flotilla/application';
import { ExecutionNotFound, parseExecutionId, type BatchCommand } from '@flotilla/domain';
import { CLOCK, type Clock } from '@flotilla/platform';
import type { ExecutionView } from '@flotilla/projections';
import type { Request } from 'express';
import { ExecutionResultDto, OperatorActionDto, RescheduleDto } from './dto';
import { actorOf } from './http-context';
import { ReadModelsService } from './read-models.service';

@ApiTags('executions')
@Controller('v1/executions')
export class ExecutionsController {
  constructor(
    private readonly batches: BatchRepository,
    private readonly readModels: ReadModelsService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get(':id')
  @ApiOperation({ summary: 'One execution' })
  get(@Param('id') id: string): ExecutionView {
    return this.view(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel one pending execution (409 unless pending)' })
  cancel(@Param('id') id: string, @Body() body: OperatorActionDto, @Req() request: Request) {
    const { batchId, index } = this.parse(id);
    return this.run(id, { type: 'CancelExecution', batchId, index, now: this.clock.now(), actor: actorOf(request), ...(body.reason ? { reason: body.reason } : {}) });
  }

  @Post(':id/reschedule')
  @HttpCode(200)
  @ApiOperation({ summary: 'Move one pending execution to a new time (409 unless pending); a time in the past means as soon as the batch runs' })
  reschedule(@Param('id') id: string, @Body() body: RescheduleDto, @Req() request: Request) {
    const { batchId, index } = this.parse(id);
    return this.run(id, {
      type: 'RescheduleExecution',
      batchId,
      index,
      executeAt: new Date(body.executeAt),
      now: this.clock.now(),
      actor: actorOf(request),
      ...(body.reason ? { reason: body.reason } : {}),
    });
  }

  @Post(':id/result')
  @HttpCode(200)
  @ApiOperation({ summary: 'Completion callback of an async target: the outcome of a triggered execution (409 once it has one)' })
  result(@Param('id') id: string, @Body() body: ExecutionResultDto) {
    const { batchId, index } = this.parse(id);
    const now = this.clock.now();
    // Attempts are counted by the executor; the read model has its latest count.
    const attempts = Math.max(1, this.readModels.queries.getExecution(batchId, index)?.attempts ?? 1);
    return this.run(
      id,
      body.status === 'completed'
        ? { type: 'RecordExecutionCompleted', batchId, index, output: body.output ?? null, attempts, now }
        : { type: 'RecordExecutionFailed', batchId, index, error: body.error ?? 'failed', attempts, now },
    );
  }

  private async run(id: string, command: BatchCommand): Promise<ExecutionView> {
    const result = await this.batches.handle(command.batchId, command, 'actor' in command ? { actor: command.actor } : {});
    await this.readModels.settle(result.position);
    return this.view(id);
  }

  private parse(id: string): { batchId: string; index: number } {
    const parsed = parseExecutionId(id);
    if (parsed === null) throw new ExecutionNotFound(id);
    return parsed;
  }

  private view(id: string): ExecutionView {
    const { batchId, index } = this.parse(id);
    const execution = this.readModels.queries.getExecution(batchId, index);
    if (execution === null) throw new ExecutionNotFound(id);
    return execution;
  }
}
