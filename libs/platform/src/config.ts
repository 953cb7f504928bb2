import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_TOPIC_SETTINGS } from '@flotilla/messaging';
import { SECRETS_KEY_BYTES } from './secret-box';
import { LOG_LEVELS, type LogLevel } from './logging';

/**
 * Triggered executions one executor holds at once: deep enough for a 1,000,000-item batch at
 * interval 0, so the queue's order (priority, turns between batches) applies to all of it and a
 * small batch behind it is not starved. A waiting one is a deferred message and a light waiter,
 * under 1 KB of heap (docs/performance.md); a smaller depth bounds memory at the cost of that order.
 */
export const DEFAULT_EXECUTOR_QUEUE_DEPTH = 1_000_000;

/**
 * Executions of one batch an executor holds in its queue at once; past it, the batch's executions
 * are parked (a bit each) and taken back in order as the ones in the queue go. Several times what
 * one batch can have in flight (the slots), so a batch never runs dry between refills, and small
 * enough that a million-item batch at interval 0 takes a few MB of queue, not a GB.
 */
export const DEFAULT_EXECUTOR_BATCH_WINDOW = 2_000;

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
  /** Kafka mode: `GET /health/ready` answers 503 while the relay is more than this many events behind (READY_MAX_RELAY_LAG). */
  readonly readyMaxRelayLag: number;
  /** Kafka mode: the events topic (its dead letters go to `<topic>.dlq`). */
  readonly kafkaTopic: string;
  /** Kafka mode: consumer groups are `<prefix>.<group>`, e.g. `flotilla.executor-dispatch`. */
  readonly kafkaGroupPrefix: string;
  /** Kafka mode: partitions of the topics the services create (KAFKA_PARTITIONS, default 6). */
  readonly kafkaPartitions: number;
  /** Kafka mode: replicas of each partition of the topics the services create (KAFKA_REPLICATION_FACTOR, default 1). */
  readonly kafkaReplicationFactor: number;
  /** Kafka mode: `retention.ms` of the events topic at creation (KAFKA_RETENTION_MS, default 7 days; -1 forever). */
  readonly kafkaRetentionMs: number;
  /** Kafka mode: `retention.ms` of the dead-letter topic at creation (KAFKA_DLQ_RETENTION_MS, default 30 days; -1 forever). */
  readonly kafkaDlqRetentionMs: number;
  /** The base URL targets use to reach this API (async callbacks). */
  readonly publicUrl: string;
  /** HTTP calls to workflow targets in flight at once, per executor process. */
  readonly executorConcurrency: number;
  /**
   * ExecutionTriggered messages the executor holds at once, calling or waiting for a call slot or
   * a retry. Deep enough (1,000,000 by default) to hold every triggered execution, so that the
   * executor's queue, not the transport's arrival order, decides who is called next: priority, then
   * turns between batches. A waiting execution holds under 1 KB of heap (a deferred message and one
   * entry in the line; docs/performance.md), so a million take about 1 GB.
   */
  readonly executorQueueDepth: number;
  /** EXECUTOR_FAIRNESS=off: no priority and no turns between batches, first come first served per workflow (for comparison). */
  readonly executorFairness: boolean;
  /** Executions of one batch held in the executor's queue at once; the rest of the batch's are parked (EXECUTOR_BATCH_WINDOW). */
  readonly executorBatchWindow: number;
  /** Key of the callback tokens (HMAC-SHA256): the executor signs with it, ingest-api checks with it. */
  readonly callbackSecret: string;
  /** Inputs `POST /workflow_runs/batch` accepts per minute, per API process, before it answers 429 with Retry-After. */
  readonly extendInputsPerMinute: number;
  /**
   * How long after its last chunk an intake with no batch counts as abandoned (its process died
   * mid-intake) and has its items discarded. An upload is on disk before its first chunk is written,
   * and a live intake then appends chunks milliseconds apart, so none in progress is taken.
   */
  readonly abandonedIntakeAfterMs: number;
  /** Whether the API needs a key (AUTH=disabled turns it off, for local experiments only). */
  readonly auth: boolean;
  /** Requests one key may make per minute before it is answered 429 with Retry-After (RATE_LIMIT_PER_MINUTE). */
  readonly rateLimitPerMinute: number;
  /** The 32-byte AES-256-GCM key of the secrets kept at rest (SECRETS_KEY, else <dataDir>/secrets.key). */
  readonly secretsKey: Buffer;
  /** CIDRs outbound calls (targets, webhooks) may not reach (OUTBOUND_DENY; default link-local, metadata, 0.0.0.0/8). */
  readonly outboundDeny: readonly string[];
  /** CIDRs let through despite OUTBOUND_DENY (OUTBOUND_ALLOW). */
  readonly outboundAllow: readonly string[];
  /** DNS servers (`host:port`) outbound host names are resolved with (DNS_SERVERS); empty: the system resolver. */
  readonly dnsServers: readonly string[];
  /** The least severe log level written (LOG_LEVEL, default info). */
  readonly logLevel: LogLevel;
}

/**
 * Link-local (where clouds serve instance metadata, 169.254.169.254), IPv6 link-local, AWS's IPv6
 * metadata address, and "this network" (0.0.0.0 reaches the local host on Linux). Loopback and
 * private ranges stay open: the targets of an internal platform are internal services.
 */
export const DEFAULT_OUTBOUND_DENY: readonly string[] = ['169.254.0.0/16', 'fe80::/10', 'fd00:ec2::254/128', '0.0.0.0/8'];

export const CONFIG = Symbol('PlatformConfig');

export const loadConfig = (env: NodeJS.ProcessEnv = process.env, service = 'platform'): PlatformConfig => {
  const dataDir = resolve(env['DATA_DIR'] ?? './data');
  mkdirSync(dataDir, { recursive: true });
  const port = Number(env['PORT'] ?? 3000);
  const host = env['HOST'] ?? '127.0.0.1';
  const transport = env['TRANSPORT'] ?? 'inprocess';
  const executorConcurrency = positiveInteger(env, 'EXECUTOR_CONCURRENCY', 256);
  if (transport !== 'inprocess' && transport !== 'kafka') throw new Error(`TRANSPORT must be inprocess or kafka, not ${transport}`);
  return {
    service,
    port,
    host,
    dataDir,
    eventStoreUrl: env['EVENT_STORE'] ?? `sqlite:${join(dataDir, 'events.sqlite')}`,
    stateDbPath: env['STATE_DB'] ?? join(dataDir, `${service}-state.sqlite`),
    transport,
    kafkaBrokers: (env['KAFKA_BROKERS'] ?? '127.0.0.1:9092')
      .split(',')
      .map((broker) => broker.trim())
      .filter(Boolean),
    relay: env['RELAY'] === '1' || env['RELAY'] === 'true',
    readyMaxRelayLag: positiveInteger(env, 'READY_MAX_RELAY_LAG', 1000),
    kafkaTopic: env['KAFKA_TOPIC'] ?? 'flotilla.events',
    kafkaGroupPrefix: env['KAFKA_GROUP_PREFIX'] ?? 'flotilla',
    kafkaPartitions: positiveInteger(env, 'KAFKA_PARTITIONS', DEFAULT_TOPIC_SETTINGS.partitions),
    kafkaReplicationFactor: positiveInteger(env, 'KAFKA_REPLICATION_FACTOR', DEFAULT_TOPIC_SETTINGS.replicationFactor),
    kafkaRetentionMs: retentionMs(env, 'KAFKA_RETENTION_MS', DEFAULT_TOPIC_SETTINGS.retentionMs),
    kafkaDlqRetentionMs: retentionMs(env, 'KAFKA_DLQ_RETENTION_MS', DEFAULT_TOPIC_SETTINGS.deadLetterRetentionMs),
    publicUrl: env['PUBLIC_URL'] ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    executorConcurrency,
    executorQueueDepth: positiveInteger(env, 'EXECUTOR_QUEUE_DEPTH', DEFAULT_EXECUTOR_QUEUE_DEPTH),
    executorFairness: onOff(env, 'EXECUTOR_FAIRNESS', true),
    // Over Kafka a parked execution would belong to the executor that parked it (its state file),
    // not to the group: by default none is parked there, and the messages stay the queue (ADR 0005).
    executorBatchWindow: positiveInteger(
      env,
      'EXECUTOR_BATCH_WINDOW',
      transport === 'kafka' ? positiveInteger(env, 'EXECUTOR_QUEUE_DEPTH', DEFAULT_EXECUTOR_QUEUE_DEPTH) : DEFAULT_EXECUTOR_BATCH_WINDOW,
    ),
    callbackSecret: callbackSecretOf(env, dataDir),
    extendInputsPerMinute: positiveInteger(env, 'EXTEND_RATE_LIMIT', 600_000),
    abandonedIntakeAfterMs: positiveInteger(env, 'ABANDONED_INTAKE_AFTER_SECONDS', 15 * 60) * 1000,
    auth: authOf(env),
    rateLimitPerMinute: positiveInteger(env, 'RATE_LIMIT_PER_MINUTE', 1200),
    secretsKey: secretsKeyOf(env, dataDir),
    outboundDeny: env['OUTBOUND_DENY'] === undefined ? DEFAULT_OUTBOUND_DENY : list(env['OUTBOUND_DENY']),
    outboundAllow: list(env['OUTBOUND_ALLOW'] ?? ''),
    dnsServers: list(env['DNS_SERVERS'] ?? ''),
    logLevel: logLevelOf(env),
  };
};

const authOf = (env: NodeJS.ProcessEnv): boolean => {
  const raw = env['AUTH'];
  if (raw === undefined || raw === '' || raw === 'enabled') return true;
  if (raw === 'disabled') return false;
  throw new Error(`AUTH must be enabled or disabled, not ${raw}`);
};

const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

const logLevelOf = (env: NodeJS.ProcessEnv): LogLevel => {
  const raw = (env['LOG_LEVEL'] ?? 'info').trim().toLowerCase();
  const level = LOG_LEVELS.find((known) => known === raw);
  if (level === undefined) throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${env['LOG_LEVEL']}`);
  return level;
};

const onOff = (env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on' || raw === 'true' || raw === '1') return true;
  if (raw === 'off' || raw === 'false' || raw === '0') return false;
  throw new Error(`${name} must be on or off, not ${raw}`);
};

const positiveInteger = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${raw}`);
  return value;
};

/** A topic's `retention.ms`: a positive number of milliseconds, or -1 for no limit (Kafka's own convention). */
const retentionMs = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || (value < 1 && value !== -1))
    throw new Error(`${name} must be a positive number of milliseconds, or -1 to keep records forever, not ${raw}`);
  return value;
};

export const MIN_CALLBACK_SECRET_LENGTH = 32;

/**
 * CALLBACK_SECRET, else the key in <dataDir>/callback.secret, made on first start (32 random bytes,
 * hex, mode 0600). Processes sharing a data directory share the file; processes that do not (the
 * distributed services on their own volumes) need CALLBACK_SECRET, the same for all of them.
 */
const callbackSecretOf = (env: NodeJS.ProcessEnv, dataDir: string): string => {
  const given = env['CALLBACK_SECRET'];
  if (given !== undefined && given !== '') {
    if (given.length < MIN_CALLBACK_SECRET_LENGTH)
      throw new Error(`CALLBACK_SECRET must be at least ${MIN_CALLBACK_SECRET_LENGTH} characters`);
    return given;
  }
  const secret = keyFile(join(dataDir, 'callback.secret'));
  if (secret.length < MIN_CALLBACK_SECRET_LENGTH)
    throw new Error(`${dataDir}/callback.secret must hold a key of at least ${MIN_CALLBACK_SECRET_LENGTH} characters`);
  return secret;
};

/**
 * SECRETS_KEY (32 bytes as 64 hex characters or as base64), else <dataDir>/secrets.key, made on
 * first start like callback.secret. A key of the wrong length stops the process at start: a
 * truncated key would seal secrets no other process could open.
 */
const secretsKeyOf = (env: NodeJS.ProcessEnv, dataDir: string): Buffer => {
  const given = env['SECRETS_KEY'];
  if (given !== undefined && given !== '') return secretsKeyFrom(given.trim(), 'SECRETS_KEY');
  const path = join(dataDir, 'secrets.key');
  return secretsKeyFrom(keyFile(path), path);
};

export const secretsKeyFrom = (text: string, source: string): Buffer => {
  const key = /^[0-9a-f]{64}$/i.test(text)
    ? Buffer.from(text, 'hex')
    : /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0
      ? Buffer.from(text, 'base64')
      : undefined;
  if (key?.length !== SECRETS_KEY_BYTES)
    throw new Error(
      `${source} must be a ${SECRETS_KEY_BYTES}-byte key, as 64 hex characters or as base64` +
        (key === undefined ? '' : ` (it holds ${key.length} bytes)`),
    );
  return key;
};

/**
 * The trimmed text of a key file, made on first start (32 random bytes, hex, mode 0600). Processes
 * sharing a data directory share the file; processes that do not need the key in their environment.
 */
const keyFile = (path: string): string => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // Written aside and linked into place, so a process starting at the same time never reads a
  // half-written file: whichever link lands first is the key, and everyone reads that one.
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(aside, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(aside, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(aside);
  }
  return readFileSync(path, 'utf8').trim();
};
