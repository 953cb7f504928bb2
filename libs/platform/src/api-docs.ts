import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { JSON_BODY_LIMIT } from './http-app';
import { ErrorBody } from './http-errors';

/** The refusals the API documents: shape 400, no key 401, role or token 403, unknown id 404, state 409, size 413, type 415, rule 422. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429;

/**
 * Documents the errors an operation can answer, each with the API's one error shape and what it
 * means for this operation: `@ApiErrors({ ...JSON_BODY_ERRORS, 404: 'No batch has this id.' })`.
 */
export const ApiErrors = (errors: Partial<Record<ErrorStatus, string>>): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ...Object.entries(errors).map(([status, description]) => ApiResponse({ status: Number(status), description, type: ErrorBody })),
  );

/** What the edge answers any request with a JSON body before the route sees it (body parser, depth check, DTO, Content-Type guard). */
export const JSON_BODY_ERRORS = {
  400: 'The body is not valid JSON, is nested too deeply, or is not of the expected shape; `details` names each field.',
  413: `The body is larger than ${JSON_BODY_LIMIT}.`,
  415: 'The Content-Type is not application/json, or the Content-Encoding or charset is not supported.',
} as const satisfies Partial<Record<ErrorStatus, string>>;

/** A page query (`limit`, `cursor`) that is not of the expected shape. */
export const PAGE_QUERY_ERROR =
  'A query parameter is not of the expected shape: a limit out of range or not an integer, a cursor ' +
  'this API did not hand out, an unknown status.';
