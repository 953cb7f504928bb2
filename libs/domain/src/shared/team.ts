/**
 * Teams own workflows, batches and webhooks. The team of a thing is recorded in the metadata of the
 * event that created it (`team`, the creating key's team); things created before teams existed
 * carry none and belong to the default team, as does everything made while auth is off.
 */
export const DEFAULT_TEAM = 'default';

/** The team an event's metadata records, `default` when it records none. */
export const teamOfMetadata = (metadata: Readonly<Record<string, unknown>>): string =>
  typeof metadata['team'] === 'string' ? metadata['team'] : DEFAULT_TEAM;
