import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { until } from '@flotilla/testing/poll';

const root = resolve(__dirname, '../../..');

const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
};

/** One service as its own process, its output kept (libs/testing's PlatformProcess is for the e2e projects). */
class ServiceProcess {
  readonly output: string[] = [];
  private child: ChildProcess | null = null;
  constructor(
    private readonly port: number,
    private readonly env: Record<string, string>,
    private readonly entry: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['-r', './scripts/swc-register.cjs', this.entry], {
      cwd: root,
      env: { ...process.env, AUTH: 'disabled', PORT: String(this.port), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    const healthy = async (): Promise<boolean> => {
      if (child.exitCode !== null) throw new Error(`${this.entry} exited with ${child.exitCode}:\n${this.output.join('').slice(-3000)}`);
      return fetch(`http://127.0.0.1:${this.port}/health`).then(
        (response) => response.ok,
        () => false,
      );
    };
    await until(healthy, 30_000, `${this.entry} to answer /health`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * The four services, each its own process (as in docker-compose), started at the same moment on a
 * new topic of the real broker: all of them create the topics and join their groups at once. A
 * healthy start logs no ERROR line, and Node prints none of the warnings kafkajs used to cause.
 */
describe('a healthy start of the distributed services over Kafka', () => {
  const data = mkdtempSync(join(tmpdir(), 'flotilla-start-'));
  const processes: ServiceProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((running) => running.stop()));
    rmSync(data, { recursive: true, force: true });
  });

  it('logs no ERROR line and no TimeoutNegativeWarning or MaxListenersExceededWarning', async () => {
    const brokers = process.env['KAFKA_BROKERS'];
    if (!brokers) throw new Error('No Kafka broker: the global setup must provide KAFKA_BROKERS');
    const topic = `start.${randomUUID().slice(0, 8)}`;
    const services = ['ingest-api', 'scheduler', 'executor', 'notifier'];
    for (const service of services)
      processes.push(
        new ServiceProcess(
          await freePort(),
          {
            DATA_DIR: data,
            TRANSPORT: 'kafka',
            KAFKA_BROKERS: brokers,
            KAFKA_TOPIC: topic,
            KAFKA_GROUP_PREFIX: topic,
            EVENT_STORE: `sqlite:${join(data, 'events.sqlite')}`,
            // Outside DATA_DIR's top level, in folders no one made: the services make them.
            STATE_DB: join(data, 'state', service, 'state.sqlite'),
            KAFKAJS_NO_PARTITIONER_WARNING: '1',
            ...(service === 'scheduler' ? { RELAY: '1' } : {}),
          },
          `apps/${service}/src/main.ts`,
        ),
      );
    await Promise.all(processes.map((running) => running.start()));
    // Past /health: the consumers' first fetches and heartbeats, where kafkajs' timers ran.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await Promise.all(processes.map((running) => running.stop()));

    const lines = processes.flatMap((running, index) =>
      running.output
        .join('')
        .split('\n')
        .map((line) => `${services[index]}: ${line}`),
    );
    expect(lines.filter((line) => /"level":"(ERROR|FATAL)"|\bERROR\b/.test(line))).toEqual([]);
    expect(lines.filter((line) => /TimeoutNegativeWarning|MaxListenersExceededWarning/.test(line))).toEqual([]);
    expect(lines.filter((line) => line.includes('listening on'))).toHaveLength(services.length);
  });
});
