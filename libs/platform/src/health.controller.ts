import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Public } from './auth/access';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiServiceUnavailableResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { Readiness } from './readiness';

export class HealthResponse {
  @ApiProperty({ enum: ['ok'] })
  status!: 'ok';
}

export class ReadinessCheckResponse {
  @ApiProperty()
  ok!: boolean;
  @ApiProperty({ required: false, description: 'Why the dependency is not usable' })
  error?: string;
}

export class ReadinessResponse {
  @ApiProperty({ enum: ['ready', 'not_ready'] })
  status!: 'ready' | 'not_ready';
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(ReadinessCheckResponse) },
    description:
      'One check per dependency of this process: `store` always, `broker` in Kafka mode, and `relay` where the process ' +
      'runs one (with its `role`, leader or standby, and its `lag` in events).',
  })
  checks!: Record<string, ReadinessCheckResponse>;
}

@ApiTags('health')
@ApiExtraModels(ReadinessCheckResponse)
@Controller()
export class HealthController {
  constructor(private readonly readiness: Readiness) {}

  @Get('health')
  @Public()
  @ApiOperation({ operationId: 'getHealth', summary: 'Liveness: the process answers HTTP' })
  @ApiOkResponse({ type: HealthResponse })
  health(): HealthResponse {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @Public()
  @ApiOperation({
    operationId: 'getReadiness',
    summary: 'Readiness: the event store, the broker and the relay are usable',
    description: '503 while the store or the broker cannot be reached, or while the relay is too far behind, naming which.',
  })
  @ApiOkResponse({ type: ReadinessResponse })
  @ApiServiceUnavailableResponse({ type: ReadinessResponse })
  async ready(@Res({ passthrough: true }) response: Response): Promise<ReadinessResponse> {
    const report = await this.readiness.report();
    if (report.status !== 'ready') response.status(HttpStatus.SERVICE_UNAVAILABLE);
    return report as ReadinessResponse;
  }
}
