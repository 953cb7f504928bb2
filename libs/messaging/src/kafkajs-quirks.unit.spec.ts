import { createRequire } from 'node:module';
import { logLevel } from 'kafkajs';
import { EXPECTED_BROKER_ERRORS, kafkaLogEntryOf, patchKafkajsRequestQueue } from './kafkajs-quirks';

const load = createRequire(require.resolve('kafkajs'));

describe('kafkajs quirks', () => {
  it("names the expected broker errors as kafkajs' own table words them", () => {
    const { errorCodes } = load('./src/protocol/error') as { errorCodes: { type: string; message: string }[] };
    for (const [type, message] of EXPECTED_BROKER_ERRORS) expect(errorCodes.find((code) => code.type === type)?.message).toBe(message);
  });

  it("logs an error answer the caller handles (a topic created by another service first) at debug, and anything else at kafkajs' level", () => {
    const answer = (error: string) => ({
      namespace: 'Connection',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: { timestamp: 'now', logger: 'kafkajs', message: 'Response CreateTopics(key: 19, version: 3)', broker: 'b:9092', error },
    });
    expect(kafkaLogEntryOf(answer('Topic with this name already exists'))).toEqual({
      level: 'debug',
      namespace: 'Connection',
      message: 'Response CreateTopics(key: 19, version: 3)',
      extra: { broker: 'b:9092', error: 'Topic with this name already exists' },
    });
    // Both topics already there: kafkajs says so of the answer as a whole.
    expect(kafkaLogEntryOf(answer('Topic creation errors')).level).toBe('debug');
    expect(kafkaLogEntryOf(answer('Not authorized to access topics: [Topic authorization failed]')).level).toBe('error');
    expect(
      kafkaLogEntryOf({ namespace: 'Consumer', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 'now', message: 'Crash' } }).level,
    ).toBe('error');
    expect(
      kafkaLogEntryOf({ namespace: 'Admin', level: logLevel.WARN, label: 'WARN', log: { timestamp: 'now', message: 'x' } }).level,
    ).toBe('warn');
  });

  it('schedules no check of an empty request queue: no negative timer, no 1 ms loop', () => {
    expect(patchKafkajsRequestQueue()).toBe(true);
    const RequestQueue = load('./src/network/requestQueue') as new (options: object) => {
      pending: unknown[];
      throttleCheckTimeoutId: NodeJS.Timeout | null;
      scheduleCheckPendingRequests(): void;
      destroy(): void;
    };
    const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const queue = new RequestQueue({ logger, isConnected: () => true, requestTimeout: 1000 });
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      queue.scheduleCheckPendingRequests();
      expect(queue.throttleCheckTimeoutId).toBeNull();
      // Something waiting still gets its check.
      queue.pending.push({});
      queue.scheduleCheckPendingRequests();
      expect(queue.throttleCheckTimeoutId).not.toBeNull();
    } finally {
      queue.destroy();
      process.off('warning', onWarning);
    }
    expect(warnings.filter((warning) => warning.name === 'TimeoutNegativeWarning')).toEqual([]);
  });
});
