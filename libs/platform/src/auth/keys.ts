import { createHash, randomBytes } from 'node:crypto';
import { streamName } from '@flotilla/event-store';
import { DEFAULT_TEAM } from '@flotilla/domain';

/** The team events from before keys existed belong to, and the team of the first admin key. */
export { DEFAULT_TEAM };

/**
 * API keys. A key belongs to a team, has a role and a name, and is kept in the event store (one
 * `keys-<id>` stream per key) so that every process of a deployment sees the same keys. Only the
 * SHA-256 of a key is ever stored: the key itself is shown once, at creation.
 */

export const ROLES = ['admin', 'operator', 'submitter'] as const;
/** admin: everything, keys included; operator: every team's batches, no keys; submitter: its own team's. */
export type Role = (typeof ROLES)[number];

export const KEY_PREFIX = 'flt_';

/** A team's name: lowercase letters, digits, - and _ (it is part of every actor, `<team>/<name>`). */
export const TEAM_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A key's name: what it is for. */
export const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const KEYS_CATEGORY = 'keys';

export const keyStream = (id: string): string => streamName(KEYS_CATEGORY, id);

export interface KeyCreated {
  readonly type: 'KeyCreated';
  readonly data: {
    readonly id: string;
    readonly team: string;
    readonly role: Role;
    readonly name: string;
    /** Hex SHA-256 of the key. */
    readonly hash: string;
    readonly createdAt: string;
    readonly actor: string;
  };
}

export interface KeyRevoked {
  readonly type: 'KeyRevoked';
  readonly data: { readonly id: string; readonly revokedAt: string; readonly actor: string };
}

export type KeyEvent = KeyCreated | KeyRevoked;

/** `flt_` and 32 random bytes (256 bits) in base64url: readable prefix, far past the 128 bits asked for. */
export const generateKey = (): string => `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;

/** A key's stored form. A plain hash is enough: keys are random, not guessable passwords. */
export const hashKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/** Who a request is, once its key is known. */
export interface Principal {
  readonly keyId: string;
  readonly team: string;
  readonly role: Role;
  readonly name: string;
}

/** The actor recorded on the events a key causes: `<team>/<name>`, e.g. `alpha/ci`. */
export const actorOfPrincipal = (principal: Principal): string => `${principal.team}/${principal.name}`;

/** Operators and admins see every team; a submitter only its own. */
export const seesEveryTeam = (principal: Principal): boolean => principal.role !== 'submitter';
