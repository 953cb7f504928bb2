import { ItemTooLarge, ItemsWriter } from '@flotilla/application';
import { RuleViolation, type BatchItem, type Metadata, type BatchSource, type ItemsLocation, type SealedSecret } from '@flotilla/domain';

/** Where checked items go: the writer of a batch's chunks, or nowhere for a plan. */
export type ItemsSink = Pick<ItemsWriter, 'add'>;

/** Feeds a batch's items, one `add` at a time, to the writer of its chunks; a CSV source answers its columns. */
export type ItemsSource = (writer: ItemsSink) => Promise<BatchSource | void>;

export interface WrittenItems {
  readonly items: ItemsLocation;
  readonly total: number;
  readonly source?: BatchSource;
}

/**
 * Writes a batch's items in chunks through `writer` as `source` gives them. An item too large for a
 * chunk is a 422 naming its row. On a failure the caller discards the chunks written (`discard`).
 */
export const writeItemChunks = async (writer: ItemsWriter, source: ItemsSource): Promise<WrittenItems> => {
  let described: BatchSource | void;
  try {
    described = await source(writer);
  } catch (error) {
    if (error instanceof ItemTooLarge) {
      throw new RuleViolation(error.message, [{ code: 'item_too_large', row: error.index + 1, message: error.message }]);
    }
    throw error;
  }
  const items = await writer.finish();
  return { items, total: writer.total, ...(described ? { source: described } : {}) };
};

/** The item as stored: no empty profile or metadata. */
export const batchItemOf = (
  inputs: Record<string, unknown>,
  profile: string | undefined,
  metadata: Metadata | undefined,
  secrets?: SealedSecret,
): BatchItem => ({
  inputs,
  ...(profile === undefined ? {} : { profile }),
  ...(metadata === undefined || Object.keys(metadata).length === 0 ? {} : { metadata }),
  ...(secrets === undefined ? {} : { secrets }),
});
