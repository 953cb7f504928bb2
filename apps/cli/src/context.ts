import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openEventStore, type EventStore } from '@flotilla/event-store';
import { loadConfig, type PlatformConfig } from '@flotilla/platform';

/** A failure the operator can act on: printed as its message alone, with this exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/** Where a command writes: stdout for results, stderr for progress and notes (so `--json` output stays clean). */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export const processOutput: Output = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

/**
 * What every command works on: the store and data directory that the services use, read from the
 * same environment through the same configuration (EVENT_STORE, else `<DATA_DIR>/events.sqlite`),
 * so the CLI and the services can never disagree about which store is meant.
 */
export class CliContext {
  private store: EventStore | null = null;

  constructor(
    readonly config: PlatformConfig,
    readonly output: Output = processOutput,
  ) {}

  static fromEnvironment(env: NodeJS.ProcessEnv = process.env, output: Output = processOutput): CliContext {
    return new CliContext(loadConfig(env, 'cli'), output);
  }

  async eventStore(): Promise<EventStore> {
    this.store ??= await openEventStore(this.config.eventStoreUrl);
    return this.store;
  }

  /**
   * The state file holding the read models: `--state-db`, else STATE_DB, else the one the service that
   * serves the API keeps in DATA_DIR (`standalone-state.sqlite` embedded, `ingest-api-state.sqlite`
   * distributed). Null when there is none.
   */
  stateDbPath(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
    if (given !== undefined) return given;
    if (env['STATE_DB']) return env['STATE_DB'];
    const candidates = STATE_OWNERS.map((service) => join(this.config.dataDir, `${service}-state.sqlite`)).filter((path) =>
      existsSync(path),
    );
    if (candidates.length > 1)
      throw new CliError(`Both ${candidates.join(' and ')} exist: say which one with --state-db <path> (or STATE_DB)`);
    return candidates[0] ?? null;
  }

  requireStateDbPath(given: string | undefined): string {
    const path = this.stateDbPath(given);
    if (path === null || !existsSync(path))
      throw new CliError(
        `No state file with the read models in ${this.config.dataDir} ` +
          `(looked for ${STATE_OWNERS.map((service) => `${service}-state.sqlite`).join(', ')}): ` +
          'name it with --state-db <path> or STATE_DB',
      );
    return path;
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = null;
  }
}

/** The services whose state file holds the batch read models (the ones the ingest API serves). */
const STATE_OWNERS = ['standalone', 'ingest-api'] as const;
