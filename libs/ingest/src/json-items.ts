import {
  ProfileAssigner,
  itemProblems,
  jsonItemOrigin,
  type BatchSettings,
  type SealedSecret,
  type WorkflowVersion,
} from '@flotilla/domain';
import type { BatchItemDto } from './dto';
import { batchItemOf, type ItemsSource } from './item-chunks';
import { RowProblems } from './row-problems';

/** Checks every item of a JSON body with the item rules; any invalid one is a 422 listing them, before anything is written. */
export const checkJsonItems = (items: readonly BatchItemDto[], workflow: WorkflowVersion): void => {
  jsonItemProblems(items, workflow).throwIfAny('items');
};

/** The problems of every item of a JSON body under the item rules, and the counts. */
export const jsonItemProblems = (items: readonly BatchItemDto[], workflow: WorkflowVersion): RowProblems => {
  const problems = new RowProblems();
  items.forEach((item, i) => problems.add(itemProblems(item, workflow, jsonItemOrigin(i))));
  return problems;
};

/** The checked items with their profiles assigned, in order. */
/** An item of a JSON batch: as `POST /v1/batches` takes it, or with secrets sealed (the Extend API's runs). */
export type JsonItem = BatchItemDto & { readonly secrets?: SealedSecret };

export const jsonItemsSource =
  (items: readonly JsonItem[], settings: BatchSettings): ItemsSource =>
  async (writer) => {
    const profiles = new ProfileAssigner(settings.defaultProfile, settings.profilePool);
    for (const item of items) await writer.add(batchItemOf(item.inputs, profiles.assign(item.profile), item.metadata, item.secrets));
  };
