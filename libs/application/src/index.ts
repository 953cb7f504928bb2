export * from './command-handler';
export * from './snapshot-store';
export * from './keyed-lock';
export * from './batch-command-handler';
export * from './items';
export * from './ids';
export * from './workflow-repository';
export * from './shared-loads';
