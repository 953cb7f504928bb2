import { Body, Controller, ForbiddenException, Get, Headers, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BatchCommandHandler } from '@flotilla/application';
import { ExecutionNotFound, executionIdOf, parseExecutionId, type BatchCommand } from '@flotilla/domain';
import {
  ApiErrors,
  CLOCK,
  CONFIG,
  JSON_BODY_ERRORS,
  isCallbackToken,
  type Clock,
  type PlatformConfig,
  BatchControl,
  Public,
} from '@flotilla/platform';
import { ExecutionView } from '@flotilla/projections';
import type { Request } from 'express';
import { ExecutionResultDto, OperatorActionDto, RescheduleDto } from './dto';
import { actorOf } from './http-context';
import { OwnTeamOnly } from './team-scope';
import { ReadModelsService } from './read-models.service';

@ApiTags('executions')
@Controller('v1/executions')
export class ExecutionsController {
  constructor(
    private readonly batches: BatchCommandHandler,
    private readonly readModels: ReadModelsService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: PlatformConfig,
  ) {}

  @Get(':id')
  @OwnTeamOnly('execution')
  @ApiOperation({ operationId: 'getExecution', summary: 'One execution' })
  @ApiOkResponse({ type: ExecutionView })
  @ApiErrors({ 404: 'No execution has this id.' })
  get(@Param('id') id: string): ExecutionView {
    return this.view(id);
  }

  @Post(':id/cancel')
  @OwnTeamOnly('execution')
  @BatchControl()
  @HttpCode(200)
  @ApiOperation({ operationId: 'cancelExecution', summary: 'Cancel one pending execution (409 unless pending)' })
  @ApiOkResponse({ type: ExecutionView, description: 'The execution, cancelled.' })
  @ApiErrors({ ...JSON_BODY_ERRORS, 404: 'No execution has this id.', 409: 'The execution is not pending.' })
  cancel(@Param('id') id: string, @Body() body: OperatorActionDto, @Req() request: Request): Promise<ExecutionView> {
    const { batchId, index } = this.parse(id);
    return this.run(id, {
      type: 'CancelExecution',
      batchId,
      index,
      now: this.clock.now(),
      actor: actorOf(request),
      ...(body.reason ? { reason: body.reason } : {}),
    });
  }

  @Post(':id/reschedule')
  @OwnTeamOnly('execution')
  @BatchControl()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'rescheduleExecution',
    summary: 'Move one pending execution to a new time (409 unless pending); a time in the past means as soon as the batch runs',
  })
  @ApiOkResponse({ type: ExecutionView, description: 'The execution, at its new time.' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    404: 'No execution has this id.',
    409: 'The execution is not pending.',
    422: 'executeAt is not a date-time the plan can hold.',
  })
  reschedule(@Param('id') id: string, @Body() body: RescheduleDto, @Req() request: Request): Promise<ExecutionView> {
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
  @Public()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'recordExecutionResult',
    summary: 'Completion callback of an async target: the outcome of an execution it accepted',
    description:
      'Needs the callbackToken the target received with the execution, as the body field callbackToken or the X-Callback-Token header ' +
      '(403 without it or with a wrong one). 409 unless the execution awaits its callback: a sync execution, ' +
      'one with an outcome, or one not accepted yet.',
  })
  @ApiHeader({
    name: 'X-Callback-Token',
    required: false,
    description: 'The callbackToken the target received (instead of the body field).',
  })
  @ApiOkResponse({ type: ExecutionView, description: 'The execution, with its outcome.' })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    403: 'The callback token is missing or is not the one of this execution.',
    404: 'The id is not an execution id.',
    409: 'The execution does not await a callback: it is sync, already has an outcome, or was not accepted yet.',
  })
  result(
    @Param('id') id: string,
    @Body() body: ExecutionResultDto,
    @Headers('x-callback-token') headerToken?: string,
  ): Promise<ExecutionView> {
    const { batchId, index } = this.parse(id);
    // Checked before anything about the execution is looked at, so a caller without the token learns nothing of it.
    if (!isCallbackToken(this.config.callbackSecret, executionIdOf(batchId, index), body.callbackToken ?? headerToken)) {
      throw new ForbiddenException(
        `The callback token of execution ${id} is missing or wrong: send the callbackToken the target received, as the ` +
          `body field callbackToken or the X-Callback-Token header`,
      );
    }
    const result =
      body.status === 'completed'
        ? { status: 'completed' as const, output: body.output ?? null }
        : { status: 'failed' as const, error: body.error ?? 'failed' };
    return this.run(id, { type: 'RecordCallbackResult', batchId, index, result, now: this.clock.now() });
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
