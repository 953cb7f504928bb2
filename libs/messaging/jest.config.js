module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'messaging',
  rootDir: __dirname,
  // The Kafka tests need a real broker: acquired once for the project (see src/testing/kafka-broker.ts).
  globalSetup: '<rootDir>/src/testing/kafka-global-setup.ts',
  globalTeardown: '<rootDir>/src/testing/kafka-global-teardown.ts',
  testTimeout: 60_000,
};
