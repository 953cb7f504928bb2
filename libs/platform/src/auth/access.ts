import { SetMetadata, applyDecorators } from '@nestjs/common';
import { ApiSecurity } from '@nestjs/swagger';
import type { Request } from 'express';
import { DEFAULT_TEAM, actorOfPrincipal, seesEveryTeam, type Principal, type Role } from './keys';

export const ACCESS = 'flotilla:access';

/** Who may call a route: anyone (no key), or keys of the roles listed. */
export type Access = { readonly public: true } | { readonly roles: readonly Role[] };

/**
 * No key needed: liveness, and routes with an authentication of their own (a target's callback token).
 * Their OpenAPI operations say so with an empty security requirement (`security: [{}]`, anonymous),
 * which overrides the document's bearer key.
 */
export const Public = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(ACCESS, { public: true } satisfies Access), ApiSecurity({}));

/**
 * The roles whose keys may call a route (admin is always one of them). A route without it takes
 * every role; what a submitter then sees is narrowed to its team by the route itself.
 */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { roles: [...new Set<Role>(['admin', ...roles])] } satisfies Access);

/** Keys and team limits: admins only. */
export const AdminOnly = (): MethodDecorator & ClassDecorator => Roles();

/** What steers a batch that exists (pause, resume, cancel, reschedule, PATCH, retry-failed, hold): operators too. */
export const BatchControl = (): MethodDecorator & ClassDecorator => Roles('operator', 'submitter');

/** Creating what belongs to a team (workflows, batches, webhooks, runs): the team's own keys, not operators. */
export const TeamOwned = (): MethodDecorator & ClassDecorator => Roles('submitter');

const PRINCIPAL = Symbol('principal');

type WithPrincipal = Request & { [PRINCIPAL]?: Principal };

export const setPrincipal = (request: Request, principal: Principal): void => {
  (request as WithPrincipal)[PRINCIPAL] = principal;
};

/** The caller's key, or undefined when auth is off (AUTH=disabled) or the route is public. */
export const principalOf = (request: Request): Principal | undefined => (request as WithPrincipal)[PRINCIPAL];

/**
 * Who is calling, for the audit history: `<team>/<name>` of the key. `X-Actor` is never the actor
 * of a keyed request; with auth off (AUTH=disabled) callers still name themselves with it, else `api`.
 */
export const actorOf = (request: Request): string => {
  const principal = principalOf(request);
  if (principal !== undefined) return actorOfPrincipal(principal);
  const header = request.header('x-actor');
  return header && header.trim() !== '' ? header.trim().slice(0, 200) : 'api';
};

/** The team what the caller creates belongs to: its key's, or `default` with auth off. */
export const teamOf = (request: Request): string => principalOf(request)?.team ?? DEFAULT_TEAM;

/**
 * The one team a caller may see, or undefined when it sees every team (operators, admins, auth
 * off). Another team's ids answer 404 to it, as ids that do not exist, and its lists hold only its team.
 */
export const visibleTeamOf = (request: Request): string | undefined => {
  const principal = principalOf(request);
  return principal === undefined || seesEveryTeam(principal) ? undefined : principal.team;
};

/** Who asks, as far as what it may see goes: its key's team, and the one team it may see (undefined: every team). */
export interface Caller {
  readonly team: string;
  readonly visibleTeam: string | undefined;
}

/** The caller of a request with auth off (AUTH=disabled): the default team's, seeing every team. */
export const AUTH_OFF_CALLER: Caller = { team: DEFAULT_TEAM, visibleTeam: undefined };

export const callerOf = (request: Request): Caller => ({ team: teamOf(request), visibleTeam: visibleTeamOf(request) });
