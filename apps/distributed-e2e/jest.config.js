module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'distributed-e2e',
  rootDir: __dirname,
  // A real Kafka broker, acquired once: KAFKA_BROKERS, else testcontainers, else scripts/kafka.sh.
  globalSetup: '<rootDir>/../../libs/messaging/src/testing/kafka-global-setup.ts',
  globalTeardown: '<rootDir>/../../libs/messaging/src/testing/kafka-global-teardown.ts',
  testTimeout: 240_000,
};
