import {
  BadRequestException,
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  ValidationPipe,
  type ArgumentsHost,
  type ExceptionFilter,
  type ValidationError,
} from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DomainError, INVALID_CURSOR_MESSAGE, RuleViolation, isPageCursor, type Problem } from '@flotilla/domain';
import { ValidateBy, ValidateIf } from 'class-validator';
import type { Response } from 'express';

/**
 * One problem of a refused request, as `details` lists it: the domain's Problem, described for
 * OpenAPI. `implements` keeps it to Problem's fields, and `errorBody` assigning Problems to
 * `details` keeps Problem to this class's: a field added on either side is a compile error here.
 */
export class ProblemBody implements Problem {
  @ApiProperty({ description: 'Stable code of the problem.', example: 'required_input_missing' })
  readonly code!: string;
  @ApiProperty({ example: 'Row 3: required input "email" is empty' })
  readonly message!: string;
  @ApiPropertyOptional({
    description: 'The field it is about: an input name, `profile`, `metadata.<key>`, a config or body field like `items[3].inputs`.',
  })
  readonly field?: string;
  @ApiPropertyOptional({ description: 'The CSV column header it is about.' })
  readonly column?: string;
  @ApiPropertyOptional({ description: '1-based CSV data row (the header is not counted).' })
  readonly row?: number;
}

/** The one error shape of the REST API. `details` lists field and row problems. */
export class ErrorBody {
  @ApiProperty({ example: 422 })
  readonly statusCode!: number;
  @ApiProperty({ description: 'The reason phrase of the status.', example: 'Unprocessable Entity' })
  readonly error!: string;
  @ApiProperty({ description: 'What is wrong, naming the field (and row).' })
  readonly message!: string;
  @ApiPropertyOptional({ type: [ProblemBody], description: 'Every problem found, when there are field or row problems.' })
  readonly details?: readonly ProblemBody[];
}

const STATUS_OF_KIND: Record<DomainError['kind'], number> = {
  not_found: HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
  rule_violation: HttpStatus.UNPROCESSABLE_ENTITY,
};

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

export const errorBody = (statusCode: number, message: string, details?: readonly Problem[]): ErrorBody => ({
  statusCode,
  error: REASON[statusCode] ?? HttpStatus[statusCode] ?? 'Error',
  message,
  ...(details && details.length > 0 ? { details } : {}),
});

/** Maps every error to the API's error shape: domain errors by kind, Nest's by status, the rest to 500 (logged). */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    if (body.statusCode >= 500) this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    if (!response.headersSent) response.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof DomainError) {
      return errorBody(
        STATUS_OF_KIND[exception.kind],
        exception.message,
        exception instanceof RuleViolation ? exception.problems : undefined,
      );
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (typeof response === 'object' && response !== null && 'details' in response) {
        const { message, details } = response as { message: string; details: Problem[] };
        return errorBody(status, message, details);
      }
      return errorBody(status, exception.message);
    }
    return errorBody(500, 'Internal error');
  }
}

/**
 * Flattens class-validator's nested errors into `{ field, message }` problems with paths like
 * `items[3].inputs`. A field's problems are listed in the order its checks are written (the type
 * check first: `null` is "must be an array", not "each value should not be empty"; class-validator
 * records them in reverse), and a message said twice (checks sharing one message) is listed once.
 */
export const validationProblems = (errors: readonly ValidationError[], parent = ''): Problem[] => {
  const problems = flatProblems(errors, parent);
  return problems.filter((problem, i) => problems.findIndex((other) => other.message === problem.message) === i);
};

const flatProblems = (errors: readonly ValidationError[], parent: string): Problem[] =>
  errors.flatMap((error) => {
    const field =
      parent === '' ? error.property : /^\d+$/.test(error.property) ? `${parent}[${error.property}]` : `${parent}.${error.property}`;
    const { nestedValidation, ...checks } = error.constraints ?? {};
    const messages = Object.values(checks)
      .reverse()
      .map((message) => message.replace(error.property, field));
    // class-validator's "nested property x must be either object or array" names no path, and says
    // less than the field's own type check; alone, it is about an element that should be an object.
    if (nestedValidation !== undefined && messages.length === 0) messages.push(`${field} must be an object`);
    const own = messages.map((message) => ({ code: 'invalid_field', field, message }));
    return [...own, ...flatProblems(error.children ?? [], field)];
  });

/**
 * An optional body field: it may be left out, but null is checked like any other value, so the
 * type checks refuse it (400 naming the field). class-validator's @IsOptional lets null through,
 * and the code past the DTO reads a missing field as `undefined`, not null.
 */
export const IsOptionalNotNull = (): PropertyDecorator => ValidateIf((_object: object, value: unknown) => value !== undefined);

/** A page cursor this API handed out: a bogus one is a 400 naming `cursor`, never a first or empty page. */
export const IsPageCursor = (): PropertyDecorator =>
  ValidateBy({
    name: 'isPageCursor',
    validator: { validate: (value: unknown) => isPageCursor(value), defaultMessage: () => INVALID_CURSOR_MESSAGE },
  });

/** Request bodies are checked against their DTOs: unknown fields are refused, shapes give 400 with every problem. */
export const createValidationPipe = (): ValidationPipe =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const details = validationProblems(errors);
      return new BadRequestException({ message: details[0]?.message ?? 'The request body is invalid', details });
    },
  });
