import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerException } from '@nestjs/throttler';
import type { Request } from 'express';
import { principalOf } from './access';

/**
 * RATE_LIMIT_PER_MINUTE requests per key per minute, over all routes together; past it, 429 with
 * Retry-After (seconds). Counted by key id, so one key's burst never slows another key. Runs after
 * the AuthGuard (it needs the principal); public routes and AUTH=disabled are not counted.
 */
@Injectable()
export class KeyRateLimitGuard extends ThrottlerGuard {
  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    return Promise.resolve(context.getType() !== 'http' || principalOf(context.switchToHttp().getRequest<Request>()) === undefined);
  }

  protected override getTracker(request: Record<string, unknown>): Promise<string> {
    return Promise.resolve(principalOf(request as unknown as Request)?.keyId ?? '');
  }

  /** The throttler's own key adds the route: here one count per key covers the whole API. */
  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override throwThrottlingException(): Promise<void> {
    throw new ThrottlerException('Too many requests with this key; wait for the Retry-After seconds');
  }
}
