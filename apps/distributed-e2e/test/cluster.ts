import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { PlatformProcess, freePort, tempDir } from '@flotilla/testing';

export type ServiceName = 'ingest-api' | 'scheduler' | 'executor' | 'notifier';

/**
 * The distributed product on one host: each service its own OS process on TRANSPORT=kafka, all
 * sharing one event store (by default one SQLite file; or the PostgreSQL database given), each with
 * its own state database. A topic and consumer group prefix per cluster keep tests apart on a
 * shared broker.
 */
export class Cluster {
  readonly data = tempDir('flotilla-cluster-');
  readonly topic = `flotilla.test.${randomUUID().slice(0, 8)}`;
  readonly eventStoreUrl: string;
  private readonly processes = new Map<string, PlatformProcess>();

  constructor(eventStoreUrl?: string) {
    this.eventStoreUrl = eventStoreUrl ?? `sqlite:${join(this.data.path, 'events.sqlite')}`;
  }

  async start(name: string, service: ServiceName, env: Record<string, string> = {}): Promise<PlatformProcess> {
    const brokers = process.env['KAFKA_BROKERS'];
    if (!brokers) throw new Error('No Kafka broker: the global setup must provide KAFKA_BROKERS');
    const existing = this.processes.get(name);
    const port = existing?.port ?? (await freePort());
    const running = new PlatformProcess(
      port,
      this.data.path,
      {
        TRANSPORT: 'kafka',
        KAFKA_BROKERS: brokers,
        KAFKA_TOPIC: this.topic,
        KAFKA_GROUP_PREFIX: this.topic,
        EVENT_STORE: this.eventStoreUrl,
        STATE_DB: join(this.data.path, `${name}-state.sqlite`),
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
        ...(service === 'scheduler' ? { RELAY: '1' } : {}),
        ...env,
      },
      `apps/${service}/src/main.ts`,
    );
    await running.start();
    this.processes.set(name, running);
    return running;
  }

  process(name: string): PlatformProcess {
    const found = this.processes.get(name);
    if (!found) throw new Error(`No process ${name}`);
    return found;
  }

  /** The usual four, each with its own extra environment if given. */
  async startAll(env: Partial<Record<ServiceName, Record<string, string>>> = {}): Promise<PlatformProcess> {
    const [api] = await Promise.all(
      (['ingest-api', 'scheduler', 'executor', 'notifier'] as const).map((service) => this.start(service, service, env[service])),
    );
    return api as PlatformProcess;
  }

  /** The tail of every process's output, for a failure's report. */
  logs(lines = 40): string {
    return [...this.processes.entries()]
      .map(([name, running]) => `--- ${name}\n${running.output.join('').split('\n').slice(-lines).join('\n')}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((each) => each.kill()));
    this.data.remove();
  }
}
