import { Global, Inject, Logger, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOCK, type Clock } from '../clock';
import { CONFIG, type PlatformConfig } from '../config';
import { AuthGuard } from './auth.guard';
import { KeyRateLimitGuard } from './key-rate-limit';
import { KeyRegistry } from './key-registry';
import { KeysController } from './keys.controller';
import { TeamLimitsRegistry } from './team-limits';
import { TeamsController } from './teams.controller';
import { DEFAULT_TEAM } from './keys';

/** The fixed id of the first-start admin key: processes starting together create it once. */
export const FIRST_ADMIN_KEY_ID = 'key_default_admin';

/** Where the first-start admin key is written, mode 0600. */
export const adminKeyPath = (config: PlatformConfig): string => join(config.dataDir, 'admin.key');

/**
 * Authentication for a process that serves the API (the embedded default, the ingest-api): the key
 * registry, the key API, the guard on every route and the per-key rate limit. On the first start of a deployment (no key
 * was ever created) it creates an admin key for the team `default`, prints it once and writes it to
 * `<DATA_DIR>/admin.key`. AUTH=disabled leaves every route open, with a warning.
 * Global: the API's modules read the team limits it keeps.
 */
@Global()
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [CONFIG],
      useFactory: (config: PlatformConfig) => [{ ttl: 60_000, limit: config.rateLimitPerMinute }],
    }),
  ],
  controllers: [KeysController, TeamsController],
  // In this order: the rate limit counts by the key the AuthGuard found.
  providers: [
    KeyRegistry,
    TeamLimitsRegistry,
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_GUARD, useClass: KeyRateLimitGuard },
  ],
  exports: [KeyRegistry, TeamLimitsRegistry],
})
export class AuthModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('auth');

  constructor(
    private readonly keys: KeyRegistry,
    @Inject(CONFIG) private readonly config: PlatformConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.auth) {
      this.logger.warn('AUTH=disabled: every endpoint is open to anyone who can reach the port, and callers name themselves with X-Actor');
      return;
    }
    if (!this.keys.isEmpty()) return;
    const created = await this.keys.create(
      { team: DEFAULT_TEAM, role: 'admin', name: 'admin', actor: 'flotilla', now: this.clock.now() },
      FIRST_ADMIN_KEY_ID,
    );
    if (created === undefined) return;
    const path = adminKeyPath(this.config);
    writeFileSync(path, `${created.key}\n`, { mode: 0o600 });
    // Straight to stdout, once, and never through the logger: log lines must not carry keys.
    process.stdout.write(
      `\nFirst start: created the admin key of team "${DEFAULT_TEAM}" (shown once, also in ${path}):\n\n  ${created.key}\n\n` +
        `  export FLOTILLA_TOKEN=$(cat ${path})\n\n`,
    );
  }
}
