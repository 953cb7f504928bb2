import type { DynamicModule } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { stdTimeFunctions } from 'pino';

/** The levels LOG_LEVEL accepts: pino's, from the most to the least verbose. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Request headers never written to the log: the API key, the callback token a target sends back,
 * cookies. Request bodies are not logged at all (pino-http does not), nor are response bodies.
 */
export const REDACTED_HEADERS = ['authorization', 'cookie', 'x-callback-token', 'x-api-key'];

/** Liveness probes and scrapes come every few seconds: a log line each would drown the rest. */
const QUIET_PATHS = new Set(['/health', '/metrics']);

/**
 * Structured JSON logs for the whole process, through pino: one JSON object a line on stdout,
 * with `level` (the upper-case name: INFO, WARN, ERROR, as Nest's console logger printed it and as
 * log routers read a severity), `time` (ISO 8601), `service`, `context` (the Nest logger's name) and
 * `msg`, plus `batchId`, `executionId` and `eventId` where a line is about one of them. Each HTTP
 * request is logged once it is answered (method, URL, status, time taken), at error level for a 5xx.
 * Made the application's logger in createHttpApp, so every `new Logger(...)` writes through it.
 */
export const loggingModule = (service: string, level: LogLevel): DynamicModule =>
  LoggerModule.forRoot({
    pinoHttp: {
      level,
      base: { service, pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label.toUpperCase() }) },
      redact: {
        paths: [...REDACTED_HEADERS.map((name) => `req.headers["${name}"]`), 'res.headers["set-cookie"]'],
        censor: '[redacted]',
      },
      autoLogging: { ignore: (request: IncomingMessage) => QUIET_PATHS.has((request.url ?? '').split('?')[0] ?? '') },
      customLogLevel: (_request: IncomingMessage, response: ServerResponse, error?: Error) =>
        error !== undefined || response.statusCode >= 500 ? 'error' : 'info',
    },
  });
