export * from './migrations';
export * from './state-db';
export * from './checkpoint-store';
export * from './handled-events';
export * from './timer-store';
