export * from './message';
export * from './ordered-window';
export * from './message-processing';
export * from './in-process-transport';
export * from './kafka-transport';
export * from './kafkajs-quirks';
export * from './relay';
export * from './relay-lease';
