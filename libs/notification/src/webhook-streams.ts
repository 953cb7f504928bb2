import { streamName, type StreamName } from '@flotilla/event-store';

/** Every registration is on one stream, so a process that starts reads one stream to know every webhook. */
export const WEBHOOK_REGISTRY_STREAM: StreamName = streamName('webhooks', 'registry');

/** Each webhook's delivery attempts: its delivery log. */
export const deliveriesStream = (webhookId: string): StreamName => streamName('webhookdeliveries', webhookId);
