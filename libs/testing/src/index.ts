export * from './e2e-harness';
export * from './poll';
export * from './product-fixture';
export * from './browser';
export * from './event-stream';
export * from './postgres';
