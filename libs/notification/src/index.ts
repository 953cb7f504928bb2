export * from './webhook';
export * from './signature';
export * from './webhook-registry';
export * from './delivery-log';
export * from './notifier';
export * from './webhooks.dto';
export * from './webhooks.controller';
export * from './notifier.module';
