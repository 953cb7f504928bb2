import { decodePageCursor, encodePageCursor, isPageCursor, pageByOffset, positionOfCursor, InvalidPageCursor } from './page-cursor';

describe('page cursors', () => {
  it('round-trip the positions of every read model: numbers and zero-padded global positions', () => {
    for (const position of ['0', '41', '0000000000000000000000000000000000001234']) {
      expect(decodePageCursor(encodePageCursor(position))).toBe(position);
    }
    expect(decodePageCursor(encodePageCursor(7))).toBe('7');
    expect(positionOfCursor(undefined)).toBeUndefined();
  });

  it('recognise strings they did not hand out: random, edited, truncated, or the old bare base64url of a position', () => {
    const good = encodePageCursor('12345');
    const bogus = [
      'abc',
      'zzzz',
      '!!!',
      '',
      Buffer.from('12345').toString('base64url'),
      Buffer.from('page2:12345').toString('base64url'),
      Buffer.from('page1:12a45').toString('base64url'),
      Buffer.from('page1:-1').toString('base64url'),
      good.slice(0, -2),
      `${good}A`,
      `${good}=`,
      good.toUpperCase(),
    ];
    for (const cursor of bogus) {
      expect([cursor, decodePageCursor(cursor)]).toEqual([cursor, null]);
      expect(isPageCursor(cursor)).toBe(false);
      expect(() => positionOfCursor(cursor)).toThrow(InvalidPageCursor);
    }
    expect(isPageCursor(42)).toBe(false);
    expect(isPageCursor(good)).toBe(true);
  });
});

describe('pageByOffset', () => {
  const all = ['a', 'b', 'c', 'd', 'e'];

  it('walks a list page by page to its end, each element once', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = pageByOffset(all, { limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual(all);
  });

  it('has no next page when the page reaches the end exactly, and refuses a cursor it did not hand out', () => {
    expect(pageByOffset(all, { limit: 5 })).toEqual({ items: all, nextCursor: null });
    expect(() => pageByOffset(all, { limit: 2, cursor: 'bogus' })).toThrow(InvalidPageCursor);
  });
});
