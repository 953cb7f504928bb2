export * from './scheduler.service';
export * from './scheduler.module';
export * from './batch-timers';
