import { KEY_NAME_PATTERN, KeyRegistry, ROLES, TEAM_PATTERN, type KeyRecord, type Role } from '@flotilla/platform';
import type { EventStore } from '@flotilla/event-store';
import { CliError } from './context';
import { alignedTable } from './table';

/** What a key is shown as: never the key nor its hash. */
export type KeyView = Omit<KeyRecord, 'hash'>;

export const keyView = ({ hash: _hash, ...view }: KeyRecord): KeyView => view;

/**
 * The same registry the services use, over the same store: a key made or revoked here is an event
 * in its `keys-<id>` stream, so every running process picks it up through its own subscription (a
 * revocation takes effect there within a second), exactly as one made through `POST /v1/keys`.
 */
export const withKeys = async <T>(store: EventStore, work: (registry: KeyRegistry) => Promise<T>): Promise<T> => {
  const registry = new KeyRegistry(store);
  await registry.onModuleInit();
  try {
    return await work(registry);
  } finally {
    await registry.onModuleDestroy();
  }
};

/** The team, role and name of a new key, checked by the rules of `POST /v1/keys`. */
export const keySpec = (options: { team: string; role: string; name: string }): { team: string; role: Role; name: string } => {
  if (!TEAM_PATTERN.test(options.team))
    throw new CliError(`--team must be 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit, not "${options.team}"`);
  const role = ROLES.find((known) => known === options.role);
  if (role === undefined) throw new CliError(`--role must be one of ${ROLES.join(', ')}, not "${options.role}"`);
  if (!KEY_NAME_PATTERN.test(options.name))
    throw new CliError(`--name must be 1 to 100 letters, digits, ., - or _, starting with a letter or digit, not "${options.name}"`);
  return { team: options.team, role, name: options.name };
};

export const keysTable = (keys: readonly KeyView[]): string[] =>
  alignedTable(
    ['ID', 'TEAM', 'ROLE', 'NAME', 'CREATED', 'REVOKED'],
    keys.map((key) => [key.id, key.team, key.role, key.name, key.createdAt, key.revokedAt ?? '']),
  );
