export * from './command-handler';
export * from './snapshot-store';
export * from './keyed-lock';
export * from './batch-repository';
export * from './items';
export * from './ids';
export * from './workflow-repository';
export * from './shared-loads';
