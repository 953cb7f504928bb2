/**
 * Page cursors: opaque to clients, self-checking for the API. A cursor is the base64url of
 * `page1:<position>`, where the position is a row's place in its order (digits). A string this API
 * did not hand out (random, truncated, edited) does not decode to that form, so it is refused
 * instead of silently reading as the first page or as an empty one. `page1` versions the format.
 */
const CURSOR_TEXT = /^page1:(\d{1,40})$/;

export const encodePageCursor = (position: string | number | bigint): string => Buffer.from(`page1:${position}`).toString('base64url');

/** The position a cursor stands for, or null when it is not a cursor this API hands out. */
export const decodePageCursor = (cursor: string): string | null => {
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(cursor)) return null;
  const position = CURSOR_TEXT.exec(Buffer.from(cursor, 'base64url').toString())?.[1];
  // base64url decoding ignores stray trailing bits: only the canonical spelling of a position is its cursor.
  return position !== undefined && encodePageCursor(position) === cursor ? position : null;
};

export const isPageCursor = (value: unknown): value is string => typeof value === 'string' && decodePageCursor(value) !== null;

export const INVALID_CURSOR_MESSAGE = 'cursor is not one this API returned: pass the nextCursor of the previous page as it is';

/** A cursor that is not one this API handed out; the HTTP edge refuses such cursors before they get here. */
export class InvalidPageCursor extends Error {
  constructor(readonly cursor: string) {
    super(INVALID_CURSOR_MESSAGE);
    this.name = 'InvalidPageCursor';
  }
}

/** The position of `cursor`, or undefined when there is none; `InvalidPageCursor` when it is bogus. */
export const positionOfCursor = (cursor: string | undefined): string | undefined => {
  if (cursor === undefined) return undefined;
  const position = decodePageCursor(cursor);
  if (position === null) throw new InvalidPageCursor(cursor);
  return position;
};

/**
 * A page of a short list held whole in memory (workflows, webhooks: few, and never removed), its
 * cursor the offset of the page's first element.
 */
export const pageByOffset = <T>(all: readonly T[], page: { limit: number; cursor?: string }): { items: T[]; nextCursor: string | null } => {
  const offset = Number(positionOfCursor(page.cursor) ?? 0);
  const end = offset + page.limit;
  return { items: all.slice(offset, end), nextCursor: end < all.length ? encodePageCursor(end) : null };
};
