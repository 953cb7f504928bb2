import { Logger } from '@nestjs/common';
import type { EventStore } from '@flotilla/event-store';
import {
  InProcessTransport,
  KafkaTransport,
  Relay,
  createKafka,
  type KafkaLog,
  type KafkaSettings,
  type MessageTransport,
} from '@flotilla/messaging';
import { CheckpointStore, HandledEvents, type StateDb } from '@flotilla/state';
import type { PlatformConfig } from './config';
import { Readiness } from './readiness';

/** Injection tokens for the ports; which adapter stands behind each is configuration, chosen here. */
export const EVENT_STORE = Symbol('EventStore');
export const MESSAGE_TRANSPORT = Symbol('MessageTransport');

const kafkaSettingsOf = (config: PlatformConfig, clientId: string): KafkaSettings => ({
  brokers: config.kafkaBrokers,
  clientId,
  topic: config.kafkaTopic,
  groupPrefix: config.kafkaGroupPrefix,
  partitions: config.kafkaPartitions,
  replicationFactor: config.kafkaReplicationFactor,
  retentionMs: config.kafkaRetentionMs,
  deadLetterRetentionMs: config.kafkaDlqRetentionMs,
  log: kafkaLog,
});

/** kafkajs' lines in the process's log, like every other line: context `kafkajs`, its fields beside `msg`. */
const kafkaLogger = new Logger('kafkajs');
const kafkaLog: KafkaLog = ({ level, namespace, message, extra }) => {
  const line = { msg: `[${namespace}] ${message}`, ...extra };
  if (level === 'error') kafkaLogger.error(line);
  else if (level === 'warn') kafkaLogger.warn(line);
  else if (level === 'info') kafkaLogger.log(line);
  else kafkaLogger.debug(line);
};

/** TRANSPORT: the in-process transport (one process, the store's own subscription) or Kafka. */
export const transportFor = (config: PlatformConfig, store: EventStore, stateDb: StateDb): MessageTransport => {
  const handled = new HandledEvents(stateDb);
  if (config.transport === 'inprocess') return new InProcessTransport(store, new CheckpointStore(stateDb), handled);
  const logger = new Logger('KafkaTransport');
  return new KafkaTransport(kafkaSettingsOf(config, config.service), handled, {
    onDeadLetter: (letter) =>
      logger.error(`Dead-lettered ${letter.message.type} ${letter.message.id} for ${letter.group}: ${letter.error}`),
  });
};

/** The store-to-Kafka relay, on the one process that has RELAY=1 in Kafka mode; null everywhere else. */
export const relayFor = (config: PlatformConfig, store: EventStore, stateDb: StateDb): Relay | null => {
  if (config.transport !== 'kafka' || !config.relay) return null;
  const settings = kafkaSettingsOf(config, `${config.service}-relay`);
  const logger = new Logger('Relay');
  return new Relay(
    store,
    createKafka(settings),
    settings,
    new CheckpointStore(stateDb),
    (error) => logger.warn(`Publishing to Kafka failed, resuming from the checkpoint: ${String(error)}`),
    (message) => logger.log(message),
  );
};

/** The readiness checks of this process: the store always; in Kafka mode the broker, and the relay where it runs one. */
export const readinessFor = (config: PlatformConfig, store: EventStore, relay: Relay | null): Readiness =>
  new Readiness(
    store,
    config.transport === 'kafka' ? createKafka({ ...kafkaSettingsOf(config, `${config.service}-readiness`), retries: 0 }) : null,
    relay,
    config.readyMaxRelayLag,
  );
