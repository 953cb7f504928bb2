export * from './access';
export * from './auth.guard';
export * from './auth.module';
export * from './key-registry';
export * from './keys';
export * from './keys.controller';
export * from './key-rate-limit';
