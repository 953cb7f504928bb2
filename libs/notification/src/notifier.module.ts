import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { type EventStore } from '@flotilla/event-store';
import { EVENT_STORE, OutboundRules, SecretBox } from '@flotilla/platform';
import { StateDb } from '@flotilla/state';
import { DeliveryLog } from './delivery-log';
import { DeliveryQueue } from './delivery-queue';
import { WebhookPoster } from './http-post';
import { NOTIFIER_OPTIONS, Notifier, type NotifierOptions } from './notifier';
import { WebhookRegistry } from './webhook-registry';
import { WebhooksController } from './webhooks.controller';

/* Both modules rely on the global CoreModule for the event store, the state database, the transport, the clock and the repositories. */

const storeProviders: Provider[] = [
  {
    provide: WebhookRegistry,
    inject: [EVENT_STORE, SecretBox],
    useFactory: (store: EventStore, box: SecretBox) => new WebhookRegistry(store, box),
  },
  { provide: DeliveryLog, inject: [EVENT_STORE], useFactory: (store: EventStore) => new DeliveryLog(store) },
];

/** The webhooks REST API (`/v1/webhooks`), for the process that serves HTTP. Starts no consumer. */
@Module({ controllers: [WebhooksController], providers: storeProviders, exports: [WebhookRegistry, DeliveryLog] })
export class WebhooksModule {}

/**
 * The notifier: consumes batch events and delivers them to the webhooks. Serves no HTTP, so an API
 * process importing WebhooksModule does not deliver, and the notifier process does not serve.
 */
@Module({
  providers: [
    ...storeProviders,
    // In this process's state database: only the notifier that enqueued a delivery sends it.
    { provide: DeliveryQueue, inject: [StateDb], useFactory: (db: StateDb) => new DeliveryQueue(db) },
    { provide: WebhookPoster, inject: [OutboundRules], useFactory: (outbound: OutboundRules) => new WebhookPoster(outbound) },
    Notifier,
  ],
})
export class NotifierModule {
  /** With delivery settings other than the defaults (tests shorten the backoff). */
  static forRoot(options: NotifierOptions): DynamicModule {
    return { module: NotifierModule, providers: [{ provide: NOTIFIER_OPTIONS, useValue: options }] };
  }
}
