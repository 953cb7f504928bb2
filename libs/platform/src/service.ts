import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { loadConfig, type PlatformConfig } from './config';
import { CoreModule } from './core.module';
import { HealthController } from './health.controller';
import { createHttpApp, listen } from './http-app';

/**
 * Starts one service process: the shared core (store, transport, repositories) for `name`, the
 * service's own modules, and an HTTP server with at least `/health` (the ingest API adds its
 * controllers through its modules). Every app's main is one call to this.
 */
export const runService = async (name: string, modules: (config: PlatformConfig) => (Type<unknown> | DynamicModule)[]): Promise<void> => {
  const config = loadConfig(process.env, name);
  @Module({})
  class ServiceModule {}
  const root: DynamicModule = {
    module: ServiceModule,
    imports: [CoreModule.forRoot(config), ...modules(config)],
    controllers: [HealthController],
  };
  const app = await createHttpApp(root);
  await listen(app, config, name);
};
