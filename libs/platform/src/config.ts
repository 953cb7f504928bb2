import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Process configuration, from the environment. One place reads `process.env`; everything else is injected. */
export interface PlatformConfig {
  /** Which service this process is (names its state file and its Kafka client). */
  readonly service: string;
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** `sqlite:<path>` (default `<dataDir>/events.sqlite`) or `esdb://…` */
  readonly eventStoreUrl: string;
  /** This process's own SQLite file: read models, consumer checkpoints, timers. */
  readonly stateDbPath: string;
  readonly transport: 'inprocess' | 'kafka';
  readonly kafkaBrokers: readonly string[];
  /** Kafka mode: whether this process runs the relay that publishes the store's events to Kafka. */
  readonly relay: boolean;
  /** Kafka mode: the events topic (its dead letters go to `<topic>.dlq`). */
  readonly kafkaTopic: string;
  /** Kafka mode: consumer groups are `<prefix>.<group>`, e.g. `flotilla.executor-dispatch`. */
  readonly kafkaGroupPrefix: string;
  /** The base URL targets use to reach this API (async callbacks). */
  readonly publicUrl: string;
  /** HTTP calls to workflow targets in flight at once, per executor process. */
  readonly executorConcurrency: number;
}

export const CONFIG = Symbol('PlatformConfig');

export const loadConfig = (env: NodeJS.ProcessEnv = process.env, service = 'platform'): PlatformConfig => {
  const dataDir = resolve(env['DATA_DIR'] ?? './data');
  mkdirSync(dataDir, { recursive: true });
  const port = Number(env['PORT'] ?? 3000);
  const host = env['HOST'] ?? '127.0.0.1';
  const transport = env['TRANSPORT'] ?? 'inprocess';
  if (transport !== 'inprocess' && transport !== 'kafka') throw new Error(`TRANSPORT must be inprocess or kafka, not ${transport}`);
  return {
    service,
    port,
    host,
    dataDir,
    eventStoreUrl: env['EVENT_STORE'] ?? `sqlite:${join(dataDir, 'events.sqlite')}`,
    stateDbPath: env['STATE_DB'] ?? join(dataDir, `${service}-state.sqlite`),
    transport,
    kafkaBrokers: (env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',').map((broker) => broker.trim()).filter(Boolean),
    relay: env['RELAY'] === '1' || env['RELAY'] === 'true',
    kafkaTopic: env['KAFKA_TOPIC'] ?? 'flotilla.events',
    kafkaGroupPrefix: env['KAFKA_GROUP_PREFIX'] ?? 'flotilla',
    publicUrl: env['PUBLIC_URL'] ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    executorConcurrency: Number(env['EXECUTOR_CONCURRENCY'] ?? 256),
  };
};
