import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callbackTokenOf, isCallbackToken } from './callback-token';
import { loadConfig } from './config';

describe('configuration', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults to the embedded store and transport under DATA_DIR, one state file per service', () => {
    const config = loadConfig({ DATA_DIR: dir }, 'executor');
    expect(config).toMatchObject({
      port: 3000,
      eventStoreUrl: `sqlite:${join(dir, 'events.sqlite')}`,
      stateDbPath: join(dir, 'executor-state.sqlite'),
      transport: 'inprocess',
      publicUrl: 'http://127.0.0.1:3000',
    });
  });

  it('reads the distributed settings', () => {
    const config = loadConfig({
      DATA_DIR: dir,
      TRANSPORT: 'kafka',
      KAFKA_BROKERS: 'a:9092, b:9092',
      EVENT_STORE: 'esdb://x:2113?tls=false',
      PORT: '8080',
    });
    expect(config).toMatchObject({
      transport: 'kafka',
      kafkaBrokers: ['a:9092', 'b:9092'],
      eventStoreUrl: 'esdb://x:2113?tls=false',
      port: 8080,
    });
  });

  it('reads the Kafka topic settings, with defaults, and refuses a bad value naming its variable', () => {
    expect(loadConfig({ DATA_DIR: dir })).toMatchObject({
      kafkaPartitions: 6,
      kafkaReplicationFactor: 1,
      kafkaRetentionMs: 604_800_000,
      kafkaDlqRetentionMs: 2_592_000_000,
    });
    expect(
      loadConfig({
        DATA_DIR: dir,
        KAFKA_PARTITIONS: '12',
        KAFKA_REPLICATION_FACTOR: '3',
        KAFKA_RETENTION_MS: '-1',
        KAFKA_DLQ_RETENTION_MS: '86400000',
      }),
    ).toMatchObject({ kafkaPartitions: 12, kafkaReplicationFactor: 3, kafkaRetentionMs: -1, kafkaDlqRetentionMs: 86_400_000 });
    expect(() => loadConfig({ DATA_DIR: dir, KAFKA_PARTITIONS: '0' })).toThrow('KAFKA_PARTITIONS must be a positive integer, not 0');
    expect(() => loadConfig({ DATA_DIR: dir, KAFKA_REPLICATION_FACTOR: 'three' })).toThrow(
      'KAFKA_REPLICATION_FACTOR must be a positive integer, not three',
    );
    expect(() => loadConfig({ DATA_DIR: dir, KAFKA_RETENTION_MS: '7d' })).toThrow(
      'KAFKA_RETENTION_MS must be a positive number of milliseconds, or -1 to keep records forever, not 7d',
    );
    expect(() => loadConfig({ DATA_DIR: dir, KAFKA_DLQ_RETENTION_MS: '0' })).toThrow('KAFKA_DLQ_RETENTION_MS must be');
  });

  it('logs at info unless LOG_LEVEL says otherwise, and refuses a level pino does not know', () => {
    expect(loadConfig({ DATA_DIR: dir }).logLevel).toBe('info');
    expect(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
    expect(() => loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'chatty' })).toThrow(
      'LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not chatty',
    );
  });

  it('refuses an unknown transport', () => {
    expect(() => loadConfig({ DATA_DIR: dir, TRANSPORT: 'carrier-pigeon' })).toThrow(
      'TRANSPORT must be inprocess or kafka, not carrier-pigeon',
    );
  });

  it('sizes the executor: call slots, and a queue of messages deep enough for every triggered execution, and fairness on unless set off', () => {
    expect(loadConfig({ DATA_DIR: dir })).toMatchObject({
      executorConcurrency: 256,
      executorQueueDepth: 1_000_000,
      executorFairness: true,
    });
    expect(loadConfig({ DATA_DIR: dir, EXECUTOR_CONCURRENCY: '8' })).toMatchObject({
      executorConcurrency: 8,
      executorQueueDepth: 1_000_000,
    });
    expect(loadConfig({ DATA_DIR: dir, EXECUTOR_CONCURRENCY: '8', EXECUTOR_QUEUE_DEPTH: '100' })).toMatchObject({
      executorQueueDepth: 100,
    });
    expect(loadConfig({ DATA_DIR: dir, EXECUTOR_FAIRNESS: 'off' })).toMatchObject({ executorFairness: false });
    expect(() => loadConfig({ DATA_DIR: dir, EXECUTOR_FAIRNESS: 'maybe' })).toThrow('EXECUTOR_FAIRNESS must be on or off, not maybe');
    expect(() => loadConfig({ DATA_DIR: dir, EXECUTOR_CONCURRENCY: 'lots' })).toThrow(
      'EXECUTOR_CONCURRENCY must be a positive integer, not lots',
    );
    expect(() => loadConfig({ DATA_DIR: dir, EXECUTOR_QUEUE_DEPTH: '0' })).toThrow(
      'EXECUTOR_QUEUE_DEPTH must be a positive integer, not 0',
    );
  });

  it('makes a callback secret in DATA_DIR on first start (mode 0600) and keeps it', () => {
    const first = loadConfig({ DATA_DIR: dir }).callbackSecret;
    const path = join(dir, 'callback.secret');
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(path, 'utf8').trim()).toBe(first);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadConfig({ DATA_DIR: dir }).callbackSecret).toBe(first);
    const other = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
    try {
      expect(loadConfig({ DATA_DIR: other }).callbackSecret).not.toBe(first);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('takes CALLBACK_SECRET over the file, and refuses a short one', () => {
    const secret = 'a-shared-secret-of-at-least-32-characters';
    expect(loadConfig({ DATA_DIR: dir, CALLBACK_SECRET: secret }).callbackSecret).toBe(secret);
    expect(() => loadConfig({ DATA_DIR: dir, CALLBACK_SECRET: 'short' })).toThrow('CALLBACK_SECRET must be at least 32 characters');
    writeFileSync(join(dir, 'callback.secret'), 'tiny');
    expect(() => loadConfig({ DATA_DIR: dir })).toThrow('must hold a key of at least 32 characters');
  });

  it('makes a secrets key in DATA_DIR on first start (32 bytes, mode 0600) and keeps it', () => {
    const first = loadConfig({ DATA_DIR: dir }).secretsKey;
    const path = join(dir, 'secrets.key');
    expect(first).toHaveLength(32);
    expect(readFileSync(path, 'utf8').trim()).toBe(first.toString('hex'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadConfig({ DATA_DIR: dir }).secretsKey.equals(first)).toBe(true);
  });

  it('takes SECRETS_KEY as hex or base64, and refuses a key of the wrong length at start', () => {
    const key = Buffer.alloc(32, 7);
    expect(loadConfig({ DATA_DIR: dir, SECRETS_KEY: key.toString('hex') }).secretsKey.equals(key)).toBe(true);
    expect(loadConfig({ DATA_DIR: dir, SECRETS_KEY: key.toString('base64') }).secretsKey.equals(key)).toBe(true);
    expect(() => loadConfig({ DATA_DIR: dir, SECRETS_KEY: Buffer.alloc(16).toString('base64') })).toThrow(
      'SECRETS_KEY must be a 32-byte key, as 64 hex characters or as base64 (it holds 16 bytes)',
    );
    expect(() => loadConfig({ DATA_DIR: dir, SECRETS_KEY: 'not a key!' })).toThrow('SECRETS_KEY must be a 32-byte key');
    writeFileSync(join(dir, 'secrets.key'), 'abcd');
    expect(() => loadConfig({ DATA_DIR: dir })).toThrow(`${join(dir, 'secrets.key')} must be a 32-byte key`);
  });

  it('reads the outbound rules and DNS servers, with link-local and metadata ranges denied by default', () => {
    expect(loadConfig({ DATA_DIR: dir })).toMatchObject({
      outboundDeny: ['169.254.0.0/16', 'fe80::/10', 'fd00:ec2::254/128', '0.0.0.0/8'],
      outboundAllow: [],
      dnsServers: [],
    });
    expect(
      loadConfig({
        DATA_DIR: dir,
        OUTBOUND_DENY: '10.0.0.0/8, 192.168.0.0/16',
        OUTBOUND_ALLOW: '10.1.0.0/16',
        DNS_SERVERS: '127.0.0.1:5353',
      }),
    ).toMatchObject({ outboundDeny: ['10.0.0.0/8', '192.168.0.0/16'], outboundAllow: ['10.1.0.0/16'], dnsServers: ['127.0.0.1:5353'] });
  });

  it('callback tokens: HMAC-SHA256 of the execution id, checked exactly', () => {
    const secret = 'k'.repeat(32);
    const token = callbackTokenOf(secret, 'bat_1.0');
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(isCallbackToken(secret, 'bat_1.0', token)).toBe(true);
    expect(isCallbackToken(secret, 'bat_1.1', token)).toBe(false);
    expect(isCallbackToken('j'.repeat(32), 'bat_1.0', token)).toBe(false);
    expect(isCallbackToken(secret, 'bat_1.0', token.slice(0, -1))).toBe(false);
    expect(isCallbackToken(secret, 'bat_1.0', token.toUpperCase())).toBe(false);
    expect(isCallbackToken(secret, 'bat_1.0', undefined)).toBe(false);
    expect(isCallbackToken(secret, 'bat_1.0', ['x'])).toBe(false);
  });
});
