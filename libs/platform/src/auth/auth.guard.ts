import { ForbiddenException, Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import { CONFIG, type PlatformConfig } from '../config';
import { errorBody } from '../http-errors';
import { ACCESS, setPrincipal, type Access } from './access';
import { KeyRegistry } from './key-registry';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The key an `Authorization: Bearer <key>` header carries; undefined when there is no such header. */
export const bearerKeyOf = (header: string | undefined): string | undefined => BEARER.exec(header ?? '')?.[1];

/** A target's callback is authenticated by its per-execution token, not a key: the one public route that takes a body. */
const CALLBACK_PATH = /^\/v1\/executions\/[^/]+\/result$/;

/**
 * Express middleware, before the body parser: a request that carries a body is answered 401 unless
 * it has a live key (or is a target's callback), so an anonymous client cannot make the API read and
 * parse a body of up to JSON_BODY_LIMIT. What the key may do is still the AuthGuard's to decide.
 */
export const keylessBodiesRefused =
  (keys: KeyRegistry) =>
  (request: Request, response: Response, next: NextFunction): void => {
    const length = request.headers['content-length'];
    const hasBody = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    const key = bearerKeyOf(request.header('authorization'));
    if (!hasBody || CALLBACK_PATH.test(request.path) || (key !== undefined && keys.authenticate(key) !== undefined)) return next();
    response
      .status(401)
      .setHeader('WWW-Authenticate', 'Bearer')
      .json(errorBody(401, key === undefined ? 'This endpoint needs Authorization: Bearer <key>' : 'The key is unknown or revoked'));
  };

/**
 * Every route needs `Authorization: Bearer <key>` of a live key unless it is `@Public()`; a missing,
 * unknown or revoked key is 401 with `WWW-Authenticate: Bearer`, a key of a role the route does not
 * take is 403. The caller's principal is kept on the request for the actor and the team checks.
 * With AUTH=disabled every request passes, as before keys existed.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: KeyRegistry,
    @Inject(CONFIG) private readonly config: PlatformConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http' || !this.config.auth) return true;
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [context.getHandler(), context.getClass()]);
    if (access !== undefined && 'public' in access) return true;
    const request = context.switchToHttp().getRequest<Request>();
    const key = bearerKeyOf(request.header('authorization'));
    const principal = key === undefined ? undefined : this.keys.authenticate(key);
    if (principal === undefined) {
      context.switchToHttp().getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException(
        key === undefined ? 'This endpoint needs Authorization: Bearer <key>' : 'The key is unknown or revoked',
      );
    }
    if (access !== undefined && !access.roles.includes(principal.role))
      throw new ForbiddenException(
        `A ${principal.role} key may not ${request.method} ${request.path}; it needs the role ${access.roles.join(' or ')}`,
      );
    setPrincipal(request, principal);
    return true;
  }
}
