export * from './executor.module';
export * from './execution-dispatcher';
export * from './wave-trigger';
export * from './outcome-writer';
export * from './target-client';
export * from './retry-policy';
export * from './call-slots';
export * from './workflow-throttle';
