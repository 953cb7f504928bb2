import type { KafkaBroker } from './kafka-broker';

export default async function teardown(): Promise<void> {
  await (globalThis as { __kafkaBroker?: KafkaBroker }).__kafkaBroker?.release();
}
