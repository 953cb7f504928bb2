import { Injectable, SetMetadata, UseGuards, applyDecorators, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { BatchNotFound, DomainError, ExecutionNotFound, parseExecutionId } from '@flotilla/domain';
import { visibleTeamOf } from '@flotilla/platform';
import type { Request } from 'express';
import { ReadModelsService } from './read-models.service';

/** What the route's `:id` names: a batch, or an execution (a workflow run) `<batchId>.<index>`. */
type ScopedId = 'batch' | 'execution' | 'run';

const SCOPED_ID = 'flotilla:team-scoped-id';

export class WorkflowRunNotFound extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'workflow_run_not_found';
  constructor(id: string) {
    super(`Workflow run ${id} does not exist`);
    this.name = 'WorkflowRunNotFound';
  }
}

const notFound: Record<ScopedId, (id: string) => DomainError> = {
  batch: (id) => new BatchNotFound(id),
  execution: (id) => new ExecutionNotFound(id),
  run: (id) => new WorkflowRunNotFound(id),
};

/**
 * Keeps a submitter to its own team's batches, and their executions, results, history and runs:
 * another team's `:id` answers the very 404 of an id that does not exist, so nothing says it does.
 * Operators and admins (and every caller with auth off) see every team. Checked before the route
 * runs, so no command is ever handled for another team.
 */
@Injectable()
export class TeamScopeGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly readModels: ReadModelsService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    const team = visibleTeamOf(request);
    if (team === undefined) return true;
    const kind = this.reflector.get<ScopedId | undefined>(SCOPED_ID, context.getHandler()) ?? 'batch';
    const id = String(request.params['id'] ?? '');
    const batchId = kind === 'batch' ? id : parseExecutionId(id)?.batchId;
    // An unknown id is left to the route, which answers its own 404.
    const owner = batchId === undefined ? undefined : this.readModels.queries.teamOfBatch(batchId);
    if (owner !== undefined && owner !== team) throw notFound[kind](id);
    return true;
  }
}

/** The route's `:id` is a batch (the default) or an execution or run of one: another team's answers 404. */
export const OwnTeamOnly = (kind: ScopedId = 'batch'): MethodDecorator =>
  applyDecorators(SetMetadata(SCOPED_ID, kind), UseGuards(TeamScopeGuard));
