import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { BatchRepository, ItemsReader, WorkflowRepository } from '@flotilla/application';
import { openEventStore, type EventStore } from '@flotilla/event-store';
import { InProcessTransport, SqliteCheckpointStore, type MessageTransport } from '@flotilla/messaging';
import { ReadModelDb } from '@flotilla/projections';
import { CONFIG, type PlatformConfig } from './config';

/** Injection tokens for the ports; classes are injected by their class. */
export const EVENT_STORE = Symbol('EventStore');
export const MESSAGE_TRANSPORT = Symbol('MessageTransport');
export const CLOCK = Symbol('Clock');

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * What every service shares: the event store (the truth), this process's local state database,
 * the message transport, and the repositories over the store. Which adapters are used is
 * configuration (EVENT_STORE, TRANSPORT); nothing past this module knows.
 */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    private readonly stateDb: ReadModelDb,
  ) {}

  static forRoot(config: PlatformConfig, transportFactory?: (store: EventStore, stateDb: ReadModelDb, config: PlatformConfig) => MessageTransport): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: CLOCK, useValue: systemClock },
        { provide: EVENT_STORE, useFactory: () => openEventStore(config.eventStoreUrl) },
        { provide: ReadModelDb, useFactory: () => new ReadModelDb(config.stateDbPath) },
        {
          provide: MESSAGE_TRANSPORT,
          inject: [EVENT_STORE, ReadModelDb],
          useFactory: (store: EventStore, stateDb: ReadModelDb) =>
            transportFactory ? transportFactory(store, stateDb, config) : new InProcessTransport(store, new SqliteCheckpointStore(stateDb.db)),
        },
        { provide: BatchRepository, inject: [EVENT_STORE], useFactory: (store: EventStore) => new BatchRepository(store) },
        { provide: WorkflowRepository, inject: [EVENT_STORE], useFactory: (store: EventStore) => new WorkflowRepository(store) },
        { provide: ItemsReader, inject: [EVENT_STORE], useFactory: (store: EventStore) => new ItemsReader(store) },
      ],
      exports: [CONFIG, CLOCK, EVENT_STORE, ReadModelDb, MESSAGE_TRANSPORT, BatchRepository, WorkflowRepository, ItemsReader],
    };
  }

  /** Services stop their consumers first (their own shutdown hooks); then the shared resources close. */
  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
    await this.store.close();
    this.stateDb.close();
  }
}
