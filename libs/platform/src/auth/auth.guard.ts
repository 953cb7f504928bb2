import { ForbiddenException, Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { CONFIG, type PlatformConfig } from '../config';
import { ACCESS, setPrincipal, type Access } from './access';
import { KeyRegistry } from './key-registry';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

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
    const match = BEARER.exec(request.header('authorization') ?? '');
    const principal = match?.[1] === undefined ? undefined : this.keys.authenticate(match[1]);
    if (principal === undefined) {
      context.switchToHttp().getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException(match === null ? 'This endpoint needs Authorization: Bearer <key>' : 'The key is unknown or revoked');
    }
    if (access !== undefined && !access.roles.includes(principal.role))
      throw new ForbiddenException(
        `A ${principal.role} key may not ${request.method} ${request.path}; it needs the role ${access.roles.join(' or ')}`,
      );
    setPrincipal(request, principal);
    return true;
  }
}
