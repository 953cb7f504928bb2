import { Global, Inject, Logger, Module, Optional, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BatchRepository, ItemsReader, WorkflowRepository } from '@flotilla/application';
import { openEventStore, type EventStore } from '@flotilla/event-store';
import { HandledEvents, InProcessTransport, KafkaTransport, Relay, SqliteCheckpointStore, createKafka, type KafkaSettings, type MessageTransport } from '@flotilla/messaging';
import { ReadModelDb } from '@flotilla/projections';
import { CONFIG, type PlatformConfig } from './config';

/** Injection tokens for the ports; classes are injected by their class. */
export const EVENT_STORE = Symbol('EventStore');
export const MESSAGE_TRANSPORT = Symbol('MessageTransport');
export const CLOCK = Symbol('Clock');
const RELAY = Symbol('Relay');

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

const kafkaSettingsOf = (config: PlatformConfig, clientId: string): KafkaSettings => ({
  brokers: config.kafkaBrokers,
  clientId,
  topic: config.kafkaTopic,
  groupPrefix: config.kafkaGroupPrefix,
});

const transportFor = (config: PlatformConfig, store: EventStore, stateDb: ReadModelDb): MessageTransport => {
  if (config.transport === 'inprocess') return new InProcessTransport(store, new SqliteCheckpointStore(stateDb.db), new HandledEvents(stateDb.db));
  const logger = new Logger('KafkaTransport');
  return new KafkaTransport(kafkaSettingsOf(config, config.service), stateDb.db, {
    onDeadLetter: (letter) => logger.error(`Dead-lettered ${letter.message.type} ${letter.message.id} for ${letter.group}: ${letter.error}`),
  });
};

/**
 * What every service shares: the event store (the truth), this process's local state database,
 * the message transport, and the repositories over the store. Which adapters are used is
 * configuration (EVENT_STORE, TRANSPORT); nothing past this module knows. In Kafka mode, the
 * process with RELAY=1 also runs the relay that publishes the store's events to Kafka.
 */
@Global()
@Module({})
export class CoreModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    private readonly stateDb: ReadModelDb,
    @Optional() @Inject(RELAY) private readonly relay: Relay | null,
  ) {}

  static forRoot(config: PlatformConfig): DynamicModule {
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
          useFactory: (store: EventStore, stateDb: ReadModelDb) => transportFor(config, store, stateDb),
        },
        {
          provide: RELAY,
          inject: [EVENT_STORE, ReadModelDb],
          useFactory: (store: EventStore, stateDb: ReadModelDb) => {
            if (config.transport !== 'kafka' || !config.relay) return null;
            const settings = kafkaSettingsOf(config, `${config.service}-relay`);
            const logger = new Logger('Relay');
            return new Relay(store, createKafka(settings), settings, new SqliteCheckpointStore(stateDb.db), (error) =>
              logger.warn(`Publishing to Kafka failed, resuming from the checkpoint: ${String(error)}`),
            );
          },
        },
        { provide: BatchRepository, inject: [EVENT_STORE], useFactory: (store: EventStore) => new BatchRepository(store) },
        { provide: WorkflowRepository, inject: [EVENT_STORE], useFactory: (store: EventStore) => new WorkflowRepository(store) },
        { provide: ItemsReader, inject: [EVENT_STORE], useFactory: (store: EventStore) => new ItemsReader(store) },
      ],
      exports: [CONFIG, CLOCK, EVENT_STORE, ReadModelDb, MESSAGE_TRANSPORT, BatchRepository, WorkflowRepository, ItemsReader],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.relay?.start();
  }

  /** Services stop their consumers first (their own shutdown hooks); then the shared resources close. */
  async onApplicationShutdown(): Promise<void> {
    await this.relay?.stop();
    await this.transport.close();
    await this.store.close();
    this.stateDb.close();
  }
}
