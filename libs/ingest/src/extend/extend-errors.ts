import { Catch, HttpException, HttpStatus, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DomainError, RuleViolation, type Problem } from '@flotilla/domain';
import { ProblemBody } from '@flotilla/platform';
import type { Response } from 'express';

/**
 * Errors of the Extend-compatible routes in Extend's shape: a JSON body whose `error` is a stable
 * code and `message` says what is wrong, naming the field. The `extend-ai` SDK turns the status into
 * its typed error (400 BadRequestError, 404 NotFoundError, 409 ExtendError, 422
 * UnprocessableEntityError, 429 TooManyRequestsError) with this body as `body`. The /v1 routes keep
 * the API's own error shape (HttpErrorFilter).
 */
export class ExtendErrorBody {
  @ApiProperty({ description: 'Stable code of the problem.', example: 'invalid_request' })
  readonly error!: string;
  @ApiProperty({ description: 'What is wrong, naming the field.', example: 'inputs must hold at least 1 input' })
  readonly message!: string;
  @ApiProperty({ example: 400 })
  readonly statusCode!: number;
  @ApiPropertyOptional({ type: [ProblemBody], description: 'Every problem found, when there are field problems.' })
  readonly details?: readonly Problem[];
}

/** A 429 of the Extend routes: the client may try again after `retryAfterSeconds`. */
export class ExtendRateLimited extends HttpException {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many inputs submitted: try again in ${retryAfterSeconds} s (EXTEND_RATE_LIMIT sets the rate)`, HttpStatus.TOO_MANY_REQUESTS);
  }
}

const CODE_OF_STATUS: Record<number, string> = {
  400: 'invalid_request',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'rate_limited',
};

const STATUS_OF_KIND: Record<DomainError['kind'], number> = { not_found: 404, conflict: 409, rule_violation: 422 };

export interface ExtendErrorAnswer {
  readonly status: number;
  readonly body: ExtendErrorBody;
  readonly headers: Readonly<Record<string, string>>;
}

/** The answer to an error thrown on an Extend route. */
export const extendErrorOf = (exception: unknown): ExtendErrorAnswer => {
  const answer = (status: number, error: string, message: string, details?: readonly Problem[], headers = {}): ExtendErrorAnswer => ({
    status,
    body: { error, message, statusCode: status, ...(details && details.length > 0 ? { details } : {}) },
    headers,
  });
  if (exception instanceof DomainError) {
    const status = STATUS_OF_KIND[exception.kind];
    const details = exception instanceof RuleViolation ? exception.problems : undefined;
    // A rule violation's first problem names the field; the summary alone would not.
    const message = details?.[0]?.message ?? exception.message;
    return answer(status, exception.code, message, details);
  }
  if (exception instanceof ExtendRateLimited) {
    return answer(429, 'rate_limited', exception.message, undefined, { 'Retry-After': String(exception.retryAfterSeconds) });
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const details =
      typeof response === 'object' && response !== null && 'details' in response ? (response as { details: Problem[] }).details : undefined;
    const message =
      typeof response === 'object' && response !== null && 'message' in response && typeof response.message === 'string'
        ? response.message
        : exception.message;
    return answer(status, CODE_OF_STATUS[status] ?? `http_${status}`, message, details);
  }
  return answer(500, 'internal_error', 'Internal error');
};

/** The exception filter of the Extend routes (`@UseFilters(ExtendErrorFilter)`), in place of the global one. */
@Catch()
export class ExtendErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ExtendErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const { status, body, headers } = extendErrorOf(exception);
    if (status >= 500) this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    if (response.headersSent) return;
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    response.status(status).json(body);
  }
}
