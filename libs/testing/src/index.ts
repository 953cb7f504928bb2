export * from './e2e-harness';
