export * from './kafka-broker';
export * from './transport-contract';
export * from './topic-reader';
