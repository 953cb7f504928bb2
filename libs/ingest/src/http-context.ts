import type { Request } from 'express';

/**
 * Who is calling, for the audit history. There is no authentication yet (it belongs in front of
 * the API); callers name themselves with `X-Actor`, else they are recorded as `api`.
 */
export const actorOf = (request: Request): string => {
  const header = request.header('x-actor');
  return header && header.trim() !== '' ? header.trim().slice(0, 200) : 'api';
};
