import { encodePageCursor } from '@flotilla/domain';

/** A `batch_history` row as an array, in the order of the history query's columns. */
export type StoredHistoryEntry = readonly [
  position: string,
  type: string,
  occurredAt: string,
  actor: string | null,
  reason: string | null,
  data: string,
];

/** Stored positions are zero-padded to sort as text; the API gives them as plain decimals. */
const decimal = (position: string): string => position.replace(/^0+(?=\d)/, '');

/**
 * `JSON.stringify` of a HistoryEntry, written without parsing the stored data: the projection
 * wrote it with JSON.stringify, so it is compact JSON already. Same keys, same order, same text.
 */
export const historyEntryJson = ([position, type, occurredAt, actor, reason, data]: StoredHistoryEntry): string =>
  `{"position":"${decimal(position)}","type":${JSON.stringify(type)},"occurredAt":${JSON.stringify(occurredAt)}` +
  `${actor === null ? '' : `,"actor":${JSON.stringify(actor)}`}${reason === null ? '' : `,"reason":${JSON.stringify(reason)}`}` +
  `,"data":${data}}`;

/** The JSON text of a history page: `rows` holds up to limit + 1 rows, the extra one saying that a next page exists. */
export const historyPageJson = (rows: readonly StoredHistoryEntry[], limit: number): string => {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextCursor = rows.length > limit && last !== undefined ? JSON.stringify(encodePageCursor(last[0])) : 'null';
  return `{"items":[${page.map(historyEntryJson).join(',')}],"nextCursor":${nextCursor}}`;
};
