import { decodePageCursor } from '@flotilla/domain';
import fc from 'fast-check';
import { historyEntryJson, historyPageJson, type StoredHistoryEntry } from './history-json';
import { positionKey } from './batch-history.projection';

/** What the API answered before the text was written through: the stored data parsed, the entry serialised. */
const parsedEntry = ([position, type, occurredAt, actor, reason, data]: StoredHistoryEntry) => ({
  position: BigInt(position).toString(),
  type,
  occurredAt,
  ...(actor === null ? {} : { actor }),
  ...(reason === null ? {} : { reason }),
  data: JSON.parse(data) as unknown,
});

const storedEntry = fc
  .tuple(
    fc.bigInt({ min: 0n, max: 2n ** 100n }),
    fc.string(),
    fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
    fc.option(fc.string(), { nil: null }),
    fc.option(fc.string(), { nil: null }),
    fc.jsonValue(),
  )
  .map(([position, type, occurredAt, actor, reason, data]): StoredHistoryEntry => [
    positionKey(position),
    type,
    occurredAt,
    actor,
    reason,
    // The projection stores each event's data with JSON.stringify.
    JSON.stringify(data),
  ]);

describe('history pages as JSON text', () => {
  it('writes each entry as JSON.stringify of the parsed entry would, for any data, actor and reason', () => {
    fc.assert(
      fc.property(storedEntry, (row) => {
        expect(historyEntryJson(row)).toBe(JSON.stringify(parsedEntry(row)));
      }),
    );
  });

  it('gives position 0 as "0", not an empty string', () => {
    const row: StoredHistoryEntry = [positionKey(0n), 'BatchCreated', '2030-01-01T00:00:00.000Z', null, null, '{}'];
    expect(JSON.parse(historyEntryJson(row))).toEqual({
      position: '0',
      type: 'BatchCreated',
      occurredAt: '2030-01-01T00:00:00.000Z',
      data: {},
    });
  });

  it('pages: the extra row only says that a next page exists, and the cursor is the last entry shown', () => {
    fc.assert(
      fc.property(fc.array(storedEntry, { maxLength: 12 }), fc.integer({ min: 1, max: 10 }), (rows, limit) => {
        const page = JSON.parse(historyPageJson(rows, limit)) as { items: unknown[]; nextCursor: string | null };
        expect(page.items).toEqual(rows.slice(0, limit).map(parsedEntry));
        if (rows.length > limit) expect(decodePageCursor(page.nextCursor ?? '')).toBe(rows[limit - 1]![0]);
        else expect(page.nextCursor).toBeNull();
      }),
    );
  });
});
