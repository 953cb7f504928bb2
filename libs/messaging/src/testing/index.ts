export * from './kafka-broker';
export * from './transport-contract';
