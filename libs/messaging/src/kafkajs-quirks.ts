import { createRequire } from 'node:module';
import { logLevel, type LogEntry, type logCreator } from 'kafkajs';

/** A kafkajs log line, as the product's logger takes it. */
export interface KafkaLogEntry {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  /** kafkajs' part that logged it: Connection, Consumer, Admin, … */
  readonly namespace: string;
  readonly message: string;
  /** The rest of kafkajs' fields (broker, clientId, groupId, error, …), without its timestamp. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export type KafkaLog = (entry: KafkaLogEntry) => void;

/**
 * Errors a broker answers while a cluster is starting or a group is forming, each handled by the
 * caller: kafkajs retries them, and `createTopics` treats an existing topic as done. kafkajs'
 * Connection still logs every error answer at ERROR before its caller handles it, so a healthy start
 * of several services (all creating the topics, joining groups on a fresh broker) printed ERROR
 * lines. These go to debug; an answer that is not handled surfaces from the caller (a thrown error,
 * a consumer crash), which is logged as it was. Messages as kafkajs 2.2.4 words them
 * (src/protocol/error.js; the unit test compares).
 */
export const EXPECTED_BROKER_ERRORS: ReadonlyMap<string, string> = new Map([
  ['TOPIC_ALREADY_EXISTS', 'Topic with this name already exists'],
  ['GROUP_COORDINATOR_NOT_AVAILABLE', 'The group coordinator is not available'],
  ['NOT_COORDINATOR_FOR_GROUP', 'This is not the correct coordinator for this group'],
  ['GROUP_LOAD_IN_PROGRESS', "The coordinator is loading and hence can't process requests for this group"],
  ['REBALANCE_IN_PROGRESS', 'The group is rebalancing, so a rejoin is needed'],
  ['LEADER_NOT_AVAILABLE', 'There is no leader for this topic-partition as we are in the middle of a leadership election'],
  ['NOT_LEADER_FOR_PARTITION', 'This server is not the leader for that topic-partition'],
  ['UNKNOWN_TOPIC_OR_PARTITION', 'This server does not host this topic-partition'],
]);
const expectedMessages = new Set(EXPECTED_BROKER_ERRORS.values());
/**
 * What kafkajs says of a CreateTopics answer with several topics' errors (KafkaJSAggregateError):
 * `createTopics` takes them as done when all are TOPIC_ALREADY_EXISTS, and throws otherwise, so a
 * real failure reaches ensureTopics' caller.
 */
const TOPIC_CREATION_ERRORS = 'Topic creation errors';

const isExpectedAnswer = (namespace: string, message: string, error: unknown): boolean =>
  namespace === 'Connection' &&
  message.startsWith('Response ') &&
  typeof error === 'string' &&
  (expectedMessages.has(error) || (message.startsWith('Response CreateTopics') && error === TOPIC_CREATION_ERRORS));

const LEVELS: Readonly<Record<number, KafkaLogEntry['level']>> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs entry as the product logs it: an expected broker answer (above) at debug, the rest at kafkajs' level. */
export const kafkaLogEntryOf = ({ namespace, level, log }: LogEntry): KafkaLogEntry => {
  const { message, timestamp: _timestamp, logger: _logger, ...extra } = log;
  return { level: isExpectedAnswer(namespace, message, extra['error']) ? 'debug' : (LEVELS[level] ?? 'info'), namespace, message, extra };
};

/** kafkajs' `logCreator` over a sink. */
export const kafkaLogCreator =
  (sink: KafkaLog): logCreator =>
  () =>
  (entry) =>
    sink(kafkaLogEntryOf(entry));

/** Without a sink: one JSON object a line, as kafkajs' own logger writes them (stderr for errors and warnings). */
export const consoleKafkaLog: KafkaLog = ({ level, namespace, message, extra }) => {
  const line = JSON.stringify({
    level: level.toUpperCase(),
    timestamp: new Date().toISOString(),
    logger: 'kafkajs',
    message: `[${namespace}] ${message}`,
    ...extra,
  });
  if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
};

interface RequestQueuePrototype {
  scheduleCheckPendingRequests(this: { pending: unknown[] }): void;
  [PATCHED]?: true;
}
const PATCHED = Symbol.for('flotilla.kafkajs.requestQueue.patched');

/**
 * kafkajs 2.2.4's RequestQueue, after every answer, schedules a check of its pending requests even
 * when none is pending, with a delay of `throttledUntil - Date.now()`: about minus the epoch in ms
 * when not throttled (`throttledUntil` starts at -1). Node clamps it to 1 ms, so each connection
 * spins a 1 ms timer that checks an empty queue and schedules itself again, and Node 24 prints
 * TimeoutNegativeWarning (kafkajs issues #1704 and #1751, unreleased fixes). With nothing pending
 * there is nothing to check: a request queued later schedules its own check (`push`), and a
 * throttle only matters to queued requests. So the check is scheduled only when something waits.
 * Applied once per process, to the RequestQueue the `kafkajs` package in use loads.
 */
export const patchKafkajsRequestQueue = (): boolean => {
  const load = createRequire(require.resolve('kafkajs'));
  const RequestQueue = load('./src/network/requestQueue') as { prototype: RequestQueuePrototype };
  const prototype = RequestQueue.prototype;
  if (prototype[PATCHED]) return true;
  const original = prototype.scheduleCheckPendingRequests;
  if (typeof original !== 'function') return false;
  prototype.scheduleCheckPendingRequests = function (this: { pending: unknown[] }) {
    if (this.pending.length === 0) return;
    original.call(this);
  };
  prototype[PATCHED] = true;
  return true;
};
