import { Injectable, SetMetadata, UnsupportedMediaTypeException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';

const ACCEPTED_CONTENT_TYPES = 'flotilla:accepted-content-types';

/** Methods that change state: each must say what its body is. */
const MUTATING_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Every mutating route accepts JSON; this is all the rest accept unless they say otherwise. */
export const JSON_CONTENT_TYPE = 'application/json';

/**
 * Widens the content types a mutating route (or every route of a controller) accepts beyond
 * application/json, for routes whose contract is another type: `@AcceptsContentTypes('multipart/form-data')`.
 */
export const AcceptsContentTypes = (...types: string[]): MethodDecorator & ClassDecorator =>
  SetMetadata(
    ACCEPTED_CONTENT_TYPES,
    types.map((type) => type.toLowerCase()),
  );

const BODYLESS_WITH_AUTHORIZATION = 'flotilla:bodyless-with-authorization';

/**
 * Lets a route also take a POST with no body and no Content-Type when it carries an Authorization
 * header, as the extend-ai SDK sends `POST /workflow_runs/{id}/cancel`. That is no opening for a web
 * page: a cross-origin request with an Authorization header needs a CORS preflight, which this API
 * never grants, just as for application/json.
 */
export const AcceptsBodylessWithAuthorization = (): MethodDecorator & ClassDecorator => SetMetadata(BODYLESS_WITH_AUTHORIZATION, true);

const isBodyless = (request: Request): boolean =>
  request.headers['content-type'] === undefined &&
  request.headers['transfer-encoding'] === undefined &&
  (request.headers['content-length'] === undefined || request.headers['content-length'] === '0');

/**
 * Refuses (415) a POST, PUT or PATCH whose Content-Type is not one its route accepts, a bodyless
 * or text/plain one included. Browsers send such requests cross-origin without asking (a form, or
 * fetch with no-cors), while application/json needs a CORS preflight this API never grants: so a
 * web page open on the operator's machine cannot pause, resume or cancel a batch behind their back.
 * The type is read from the header alone: an empty body with the right type is the route's to judge.
 */
@Injectable()
export class ContentTypeGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<Request>();
    if (!MUTATING_METHODS.has(request.method)) return true;
    const accepted = [
      JSON_CONTENT_TYPE,
      ...(this.reflector.getAllAndOverride<string[] | undefined>(ACCEPTED_CONTENT_TYPES, [context.getHandler(), context.getClass()]) ?? []),
    ];
    const header = request.headers['content-type'];
    const type = (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (accepted.includes(type)) return true;
    const targets = [context.getHandler(), context.getClass()];
    if (
      request.headers.authorization !== undefined &&
      isBodyless(request) &&
      this.reflector.getAllAndOverride<boolean | undefined>(BODYLESS_WITH_AUTHORIZATION, targets) === true
    )
      return true;
    const got = header === undefined ? 'the request has no Content-Type' : `got ${type === '' ? JSON.stringify(header) : type}`;
    throw new UnsupportedMediaTypeException(`${request.method} ${request.path} needs Content-Type ${accepted.join(' or ')}; ${got}`);
  }
}
