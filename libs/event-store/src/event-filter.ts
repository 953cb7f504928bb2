import type { EventFilter } from './event-store';

/**
 * Refuses a filter that names nothing: read literally it lets no event through, yet a caller who passes
 * `{}` almost certainly means "no filter". Failing is better than either silent reading.
 */
export const checkedFilter = (filter: EventFilter | undefined): EventFilter | undefined => {
  if (filter !== undefined && !filter.streamPrefixes?.length && !filter.eventTypes?.length) {
    throw new Error('An event filter needs at least one stream prefix or event type; omit the filter to read everything');
  }
  return filter;
};

/** An event passes when its stream starts with one of the prefixes or its type is listed. */
export const matchesFilter = (filter: EventFilter, streamName: string, type: string): boolean =>
  (filter.streamPrefixes?.some((prefix) => streamName.startsWith(prefix)) ?? false) || (filter.eventTypes?.includes(type) ?? false);
