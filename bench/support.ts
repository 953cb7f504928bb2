/** Shared pieces of the end-to-end benchmarks: the built product as child processes, and a no-op target. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..', '..');

/** The value after `--<name>` on the command line, or `fallback`. */
export const arg = (name: string, fallback: string): string => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
};

/** Spawns a process and resolves once a line of its stdout matches `ready`. */
export const startProcess = (
  command: string,
  args: readonly string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const match = ready.exec(seen);
      if (match !== null) resolve({ child, match });
    });
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code} before it was ready`)));
  });

/** Whether a child process has ended; one ended by a signal has a null exitCode. */
const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

export const stopProcess = async (child: ChildProcess): Promise<void> => {
  if (hasExited(child)) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
};

/** The no-op target (bench/noop-target.ts) as a process of its own, so it shares no CPU with the bench's event loop. */
export const startNoopTarget = async (): Promise<{ url: string; child: ChildProcess }> => {
  const { child, match } = await startProcess(process.execPath, [join(root, 'dist/bench/noop-target.js')], /listening (\d+)/);
  return { url: `http://127.0.0.1:${match[1]}/run`, child };
};

export const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
};

/** Bytes of the files under `dir`, recursively (a data directory: the stores, their WAL and shm files). */
export const directoryBytes = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
    const path = join(dir, entry.name);
    return sum + (entry.isDirectory() ? directoryBytes(path) : entry.isFile() ? statSync(path).size : 0);
  }, 0);

/** Resident set size of a process now, from /proc (Linux). */
export const rssMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
};

/** Peak resident set size of a process, from /proc (Linux). */
export const peakRssMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
};

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/** One built service process (`dist/apps/<app>/src/main.js`). */
export class ServiceProcess {
  child: ChildProcess | null = null;
  url = '';

  constructor(
    private readonly app: string,
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.child = spawn(process.execPath, [join(root, `dist/apps/${this.app}/src/main.js`)], {
      // Keys off: the benches measure the pipeline, and their clients send none (the env may turn them on).
      env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1', AUTH: 'disabled', ...this.env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`${this.url}/health`)).ok) return;
      } catch {
        // not up yet
      }
      await new Promise((done) => setTimeout(done, 100));
    }
    throw new Error(`${this.app} did not start`);
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : body instanceof FormData
          ? { body }
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && !hasExited(child)) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

/** The embedded product: one process, a fresh data directory. */
export class Product extends ServiceProcess {
  readonly dataDir: string;

  constructor(env: Record<string, string> = {}) {
    const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
    super('standalone', { DATA_DIR: dataDir, ...env });
    this.dataDir = dataDir;
  }

  override async stop(): Promise<void> {
    await super.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A workflow target that answers at once and records when each execution reached it. */
export const startTarget = async (): Promise<{
  url: string;
  calls: () => number;
  calledAt: Map<string, number>;
  close: () => Promise<void>;
}> => {
  let calls = 0;
  const calledAt = new Map<string, number>();
  const server = createServer((request, response) => {
    const key = String(request.headers['idempotency-key']);
    if (!calledAt.has(key)) calledAt.set(key, Date.now());
    request.resume();
    request.on('end', () => {
      calls++;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`,
    calls: () => calls,
    calledAt,
    close: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
};

export interface BatchView {
  status: string;
  startAt: string;
  progress: { total: number; triggered: number; completed: number; failed: number };
}

export const waitForOutcomes = async (api: ServiceProcess, id: string, total: number, timeoutMs: number): Promise<BatchView> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await api.json<BatchView>('GET', `/v1/batches/${id}`);
    if (batch.progress.completed + batch.progress.failed >= total) return batch;
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(batch.progress)}`);
    await new Promise((done) => setTimeout(done, 100));
  }
};

/** Registers the benches' workflow: two inputs, the given target. */
export const registerBenchWorkflow = (product: ServiceProcess, targetUrl: string): Promise<unknown> =>
  product.json('POST', '/v1/workflows', {
    id: 'bench',
    name: 'bench',
    inputs: [{ name: 'email' }, { name: 'first_name' }],
    target: { url: targetUrl },
  });

/** A CSV upload of `rows` rows (`email,first_name,company`) with `config`, as POST /v1/batches takes it. */
export const benchCsvForm = (rows: number, config: Record<string, unknown>): FormData => {
  const lines = ['email,first_name,company'];
  for (let i = 0; i < rows; i++) lines.push(`user${i}@example.com,Name${i},Company ${i % 1000}`);
  const form = new FormData();
  form.append('config', JSON.stringify(config));
  form.append('file', new Blob([lines.join('\n') + '\n']), 'rows.csv');
  return form;
};

/**
 * Times `count` GETs of `url`, one after another (each to the last byte of its body), and returns
 * their durations in ms, sorted. A response that is not ok stops the bench: a fast error is no figure.
 */
export const timeGets = async (url: string, count: number): Promise<number[]> => {
  const durations: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const response = await fetch(url);
    const body = await response.arrayBuffer();
    durations.push(performance.now() - started);
    if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${Buffer.from(body).toString('utf8').slice(0, 300)}`);
  }
  return durations.sort((a, b) => a - b);
};

/** CPU seconds a process has used (user + system), from /proc (Linux). */
export const cpuSeconds = (pid: number): number => {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/**
 * Waits until a process has used under 5% of a core for a whole second (or `timeoutMs` passed),
 * so a read measured next is not queued behind its background work (a projection catching up, a
 * WAL checkpoint). Returns the ms waited.
 */
export const waitUntilIdle = async (pid: number, timeoutMs = 60_000): Promise<number> => {
  const started = performance.now();
  let before = cpuSeconds(pid);
  while (performance.now() - started < timeoutMs) {
    await new Promise((done) => setTimeout(done, 1000));
    const now = cpuSeconds(pid);
    if (now - before < 0.05) break;
    before = now;
  }
  return performance.now() - started;
};
