import { existsSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { Logger, Module, type DynamicModule, type Type } from '@nestjs/common';
import { loadConfig, type PlatformConfig } from './config';
import { CoreModule } from './core.module';
import { HealthController } from './health.controller';
import { createHttpApp, listen } from './http-app';
import { loggingModule } from './logging';
import { MetricsController } from './metrics';
import { AuthModule } from './auth/auth.module';

/**
 * Starts one service process: the shared core (store, transport, repositories) for `name`, the
 * service's own modules, and an HTTP server with at least `/health` (the ingest API adds its
 * controllers through its modules). Every app's main is one call to this.
 */
export const runService = async (name: string, modules: (config: PlatformConfig) => (Type<unknown> | DynamicModule)[]): Promise<void> => {
  installSafetyNet();
  // Until the server listens, Nest buffers the log, and the safety net would take a failed start for
  // one failed task: a start that throws (a bad setting) or stalls with nothing left to wait on (the
  // event loop empties) would end with exit code 0, the first without saying it stopped, the second
  // without a line at all. Both say so on stderr and exit 1, for a supervisor to see.
  let started = false;
  process.once('beforeExit', () => {
    if (started) return;
    writeSync(2, `${name}: the start stopped before the server listened (nothing left to wait on); exiting with 1\n`);
    process.exitCode = 1;
  });
  try {
    await start(name, modules);
    started = true;
  } catch (failure) {
    writeSync(2, `${name}: could not start: ${describeFailure(failure)}\n`);
    process.exit(1);
  }
};

const start = async (name: string, modules: (config: PlatformConfig) => (Type<unknown> | DynamicModule)[]): Promise<void> => {
  const config = loadConfig(process.env, name);
  @Module({})
  class ServiceModule {}
  const own = modules(config);
  const root: DynamicModule = {
    module: ServiceModule,
    imports: [loggingModule(name, config.logLevel), CoreModule.forRoot(config), ...own],
    controllers: [HealthController, MetricsController],
  };
  const servesApi = own.includes(AuthModule);
  const app = await createHttpApp(root, {
    structuredLogs: true,
    // Only a process that serves the API with keys on checks them, and then before any body is read.
    keysBeforeBodies: config.auth && servesApi,
    // The console goes where the API is.
    ...(servesApi ? { consoleDir: process.env['CONSOLE_DIR'] ?? builtConsoleDir() } : {}),
  });
  await listen(app, config, name);
};

/**
 * Where the build put the console: dist/console, beside dist/libs when this file runs from dist,
 * and under the repository's dist when it runs from its sources (the e2e tests' swc-register).
 */
const builtConsoleDir = (): string => {
  const besideLibs = resolve(__dirname, '../../../console');
  return existsSync(besideLibs) ? besideLibs : resolve(__dirname, '../../../dist/console');
};

const describeFailure = (failure: unknown): string =>
  failure instanceof Error ? (failure.stack ?? `${failure.name}: ${failure.message}`) : String(failure);

/**
 * The process-level safety net, installed once by every service.
 *
 * A rejected promise nobody awaited (`unhandledRejection`) was a task that failed alone: the
 * service's state is whatever the store says it is, so it is logged with its stack and the service
 * keeps serving (Node's default would kill the scheduler, executor and notifier with it).
 * An exception thrown out of a callback (`uncaughtException`) may have left any stream or handle
 * half-done, so it is logged and the process exits with 1 for its supervisor to restart it; the
 * store is durable, so a restart loses nothing. Neither is ever silent.
 */
export const installSafetyNet = (
  logger: Pick<Logger, 'error'> = new Logger('process'),
  exit: (code: number) => void = (code) => process.exit(code),
): void => {
  process.on('unhandledRejection', (reason) => {
    logger.error(`Unhandled promise rejection; the service keeps running: ${describeFailure(reason)}`);
  });
  process.on('uncaughtException', (error) => {
    logger.error(`Uncaught exception; exiting so that a supervisor restarts the service: ${describeFailure(error)}`);
    exit(1);
  });
};
