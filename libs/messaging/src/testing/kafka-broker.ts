import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(__dirname, '../../../..');
const script = resolve(root, 'scripts/kafka.sh');

/**
 * A real Kafka broker for tests, in this order of preference:
 * 1. `KAFKA_BROKERS`, when set (CI starts one broker with scripts/kafka.sh for every project and
 *    sets KAFKA_MANAGED_BY=script so tests may restart it);
 * 2. testcontainers' Kafka module, when a Docker engine answers;
 * 3. scripts/kafka.sh: Apache Kafka's jars from Maven Central, a single-node KRaft broker on loopback.
 * Kafka tests never skip: when none of these gives a broker, they fail.
 */
export interface KafkaBroker {
  readonly brokers: string;
  readonly source: 'environment' | 'testcontainers' | 'script';
  /** Stops and starts the broker on the same address and data (a broker outage in the middle of a test). */
  restart(): Promise<void>;
  /** Stops the broker if this helper started it. */
  release(): Promise<void>;
}

const dockerAnswers = async (): Promise<boolean> => {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
};

const scriptBroker = (brokers: string, startedHere: boolean): KafkaBroker => ({
  brokers,
  source: startedHere ? 'script' : 'environment',
  restart: async () => {
    await run('bash', [script, 'restart'], { cwd: root, timeout: 180_000 });
  },
  release: async () => {
    if (startedHere) await run('bash', [script, 'stop'], { cwd: root, timeout: 60_000 });
  },
});

export const acquireKafkaBroker = async (): Promise<KafkaBroker> => {
  const fromEnvironment = process.env['KAFKA_BROKERS'];
  if (fromEnvironment) {
    if (process.env['KAFKA_MANAGED_BY'] === 'script') return scriptBroker(fromEnvironment, false);
    return {
      brokers: fromEnvironment,
      source: 'environment',
      restart: () =>
        Promise.reject(
          new Error(
            'Cannot restart the external broker in KAFKA_BROKERS; unset it (or set KAFKA_MANAGED_BY=script) so the tests manage their own',
          ),
        ),
      release: async () => undefined,
    };
  }
  if (await dockerAnswers()) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const container = await new KafkaContainer('confluentinc/cp-kafka:7.7.1').withKraft().start();
    const brokers = `${container.getHost()}:${container.getMappedPort(9093)}`;
    return {
      brokers,
      source: 'testcontainers',
      restart: async () => void (await container.restart()),
      release: async () => void (await container.stop()),
    };
  }
  const { stdout } = await run('bash', [script, 'start'], { cwd: root, timeout: 300_000 });
  const brokers = stdout.trim().split('\n').at(-1) ?? '';
  if (!/^[\w.-]+:\d+$/.test(brokers)) throw new Error(`scripts/kafka.sh start did not print a bootstrap address: ${stdout}`);
  return scriptBroker(brokers, true);
};
