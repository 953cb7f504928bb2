import { acquireKafkaBroker } from './kafka-broker';

/**
 * Jest global setup for projects whose tests need Kafka: acquires a broker once and hands its
 * address to the test workers through the environment. No broker, no tests: this throws.
 */
export default async function setup(): Promise<void> {
  const broker = await acquireKafkaBroker();
  process.env['KAFKA_BROKERS'] = broker.brokers;
  if (broker.source === 'script') process.env['KAFKA_MANAGED_BY'] = 'script';
  (globalThis as { __kafkaBroker?: unknown }).__kafkaBroker = broker;
  console.log(`\nKafka broker for the tests: ${broker.brokers} (${broker.source})`);
}
