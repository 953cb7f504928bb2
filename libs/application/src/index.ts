export * from './batch-repository';
export * from './items';
export * from './ids';
export * from './workflow-repository';
