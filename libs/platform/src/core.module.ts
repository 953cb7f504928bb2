import {
  Global,
  Inject,
  Module,
  Optional,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { BatchCommandHandler, BatchTeams, ItemsReader, WorkflowRepository } from '@flotilla/application';
import type { EventStore } from '@flotilla/event-store';
import { KafkaTransport, type MessageTransport, type Relay } from '@flotilla/messaging';
import { StateDb } from '@flotilla/state';
import { EVENT_STORE, MESSAGE_TRANSPORT, readinessFor, relayFor, transportFor } from './adapters';
import { CLOCK, systemClock } from './clock';
import { CONFIG, type PlatformConfig } from './config';
import { Metrics, batchEventMetrics } from './metrics';
import { OutboundRules } from './outbound';
import { Readiness } from './readiness';
import { SecretBox } from './secret-box';
import { openConfiguredEventStore, openStateDb } from './storage-paths';

const RELAY = Symbol('Relay');

/**
 * What every service shares, and its lifecycle: the event store (the truth), this process's state
 * database, the message transport, the relay where this process runs it, the clock, the command
 * handlers over the store, the box of the secrets at rest and the outbound URL rules. The adapters
 * are chosen from configuration (./adapters.ts); nothing past this module knows which.
 */
@Global()
@Module({})
export class CoreModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    private readonly stateDb: StateDb,
    @Optional() @Inject(RELAY) private readonly relay: Relay | null,
    private readonly readiness: Readiness,
    metrics: Metrics,
  ) {
    const relayOf = relay;
    if (relayOf !== null)
      metrics.observe(
        'flotilla_relay_lag_events',
        'Events in the store the relay has not published to Kafka yet (counted up to 10000)',
        () => relayOf.lag(),
      );
    if (transport instanceof KafkaTransport)
      metrics.observe(
        'flotilla_consumer_lag',
        "Records of the events topic not yet committed by each of this process's consumer groups",
        () => transport.lagByGroup(),
        'group',
      );
  }

  static forRoot(config: PlatformConfig): DynamicModule {
    const overStore = (make: (store: EventStore) => unknown) => ({ inject: [EVENT_STORE], useFactory: make });
    const overStoreAndState = (make: (store: EventStore, stateDb: StateDb) => unknown) => ({
      inject: [EVENT_STORE, StateDb],
      useFactory: make,
    });
    return {
      module: CoreModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: CLOCK, useValue: systemClock },
        {
          provide: EVENT_STORE,
          useFactory: () => openConfiguredEventStore(config.eventStoreUrl),
        },
        { provide: StateDb, useFactory: () => openStateDb(config.stateDbPath) },
        { provide: MESSAGE_TRANSPORT, ...overStoreAndState((store, stateDb) => transportFor(config, store, stateDb)) },
        { provide: RELAY, ...overStoreAndState((store, stateDb) => relayFor(config, store, stateDb)) },
        {
          provide: Readiness,
          inject: [EVENT_STORE, RELAY],
          useFactory: (store: EventStore, relay: Relay | null) => readinessFor(config, store, relay),
        },
        // One registry per process, whichever services it runs.
        { provide: Metrics, useFactory: () => new Metrics() },
        {
          provide: BatchCommandHandler,
          inject: [EVENT_STORE, Metrics],
          useFactory: (store: EventStore, metrics: Metrics) => new BatchCommandHandler(store, { onAppended: batchEventMetrics(metrics) }),
        },
        { provide: WorkflowRepository, ...overStore((store) => new WorkflowRepository(store)) },
        { provide: ItemsReader, ...overStore((store) => new ItemsReader(store)) },
        { provide: BatchTeams, ...overStore((store) => new BatchTeams(store)) },
        { provide: SecretBox, useFactory: () => new SecretBox(config.secretsKey) },
        { provide: OutboundRules, useFactory: () => OutboundRules.of(config) },
      ],
      exports: [
        CONFIG,
        CLOCK,
        EVENT_STORE,
        StateDb,
        Metrics,
        MESSAGE_TRANSPORT,
        BatchCommandHandler,
        WorkflowRepository,
        ItemsReader,
        BatchTeams,
        SecretBox,
        OutboundRules,
        Readiness,
      ],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.relay?.start();
  }

  /** Services stop their consumers first (their own shutdown hooks); then the shared resources close. */
  async onApplicationShutdown(): Promise<void> {
    await this.readiness.close();
    await this.relay?.stop();
    await this.transport.close();
    await this.store.close();
    this.stateDb.close();
  }
}
