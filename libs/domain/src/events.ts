import { batchEvents, batchItemsEvents } from './batch/batch.registry';
import { webhookDeliveryEvents, webhookEvents } from './webhook/webhook';
import { workflowEvents } from './workflow/workflow.registry';

/** Every event type of the product, for readers of all of them (the relay, which publishes them upcast). */
export const allEvents = batchEvents.with(batchItemsEvents).with(workflowEvents).with(webhookEvents).with(webhookDeliveryEvents);
