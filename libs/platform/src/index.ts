export * from './config';
export * from './content-type.guard';
export * from './core.module';
export * from './http-errors';
export * from './http-app';
export * from './health.controller';
export * from './service';
export * from './callback-token';
