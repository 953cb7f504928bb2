import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eventually } from './poll';

/** End-to-end harness: the real product as a child process, and real HTTP servers on loopback. */

const root = resolve(__dirname, '../../..');

export const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
};

export const tempDir = (prefix: string): { path: string; remove: () => void } => {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
};

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** One running product process (apps/standalone), started from its TypeScript sources. */
export class PlatformProcess {
  private child: ChildProcess | null = null;
  readonly output: string[] = [];
  readonly url: string;

  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string> = {},
    private readonly entry = 'apps/standalone/src/main.ts',
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(process.execPath, ['-r', './scripts/swc-register.cjs', this.entry], {
      cwd: root,
      // Specs from before keys run with auth off unless they say AUTH (auth.e2e.spec.ts runs with it on).
      env: { ...process.env, AUTH: 'disabled', PORT: String(this.port), DATA_DIR: this.dataDir, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      this.child?.once('exit', (code) =>
        reject(new Error(`${this.entry} (port ${this.port}) exited with ${code} before it was up:\n${this.output.join('').slice(-3000)}`)),
      ),
    );
    await Promise.race([
      exited,
      eventually(
        () => this.health(),
        (ok) => ok,
        30_000,
        `${this.entry} to answer /health`,
      ),
    ]);
  }

  private async health(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/health`)).ok;
    } catch {
      return false;
    }
  }

  /** Graceful stop (SIGTERM), as an operator would. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** A crash: SIGKILL, no chance to clean up. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill(signal);
    await exited;
    this.child = null;
  }

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body instanceof FormData) init.body = body;
    else if (typeof body === 'string') init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const response = await fetch(`${this.url}${path}`, init);
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
  }
}

export interface TargetCall {
  readonly at: number;
  readonly key: string;
  readonly body: {
    executionId: string;
    batchId: string;
    inputs: Record<string, unknown>;
    attempt: number;
    profile?: string;
    metadata?: Record<string, unknown>;
    callbackUrl: string;
    callbackToken: string;
  };
}

export interface TargetAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/**
 * A workflow target on loopback that records every call; `respond` decides each answer, at once or
 * later (a promise; one that never settles makes a target that hangs until the caller gives up).
 */
export class TargetServer {
  readonly calls: TargetCall[] = [];
  /** Requests open (arrived, neither answered nor dropped by the caller), now and at most so far. */
  readonly open = { now: 0, max: 0 };
  private server: Server | null = null;
  url = '';
  respond: (call: TargetCall, count: number) => TargetAnswer | Promise<TargetAnswer> = () => ({ status: 200, body: { ok: true } });

  async start(): Promise<void> {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      this.open.max = Math.max(this.open.max, ++this.open.now);
      response.once('close', () => void this.open.now--);
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const call: TargetCall = {
          at: Date.now(),
          key: String(request.headers['idempotency-key']),
          body: JSON.parse(Buffer.concat(chunks).toString()) as TargetCall['body'],
        };
        this.calls.push(call);
        void Promise.resolve(this.respond(call, this.calls.filter((other) => other.key === call.key).length)).then((answer) => {
          if (response.destroyed) return;
          response.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
          response.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
        });
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((done) => this.server?.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/run`;
  }

  keys(): Set<string> {
    return new Set(this.calls.map((call) => call.key));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((done) => this.server?.close(done));
  }
}

export interface WebhookDelivery {
  readonly headers: Record<string, string>;
  readonly raw: string;
  readonly body: { id: string; type: string; batchId: string; executionId?: string; metadata: Record<string, unknown>; data: unknown };
}

/** Verifies `X-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` as a receiver would. */
export const verifySignatureHeader = (secret: string, header: string, raw: string): boolean => {
  const parts = Object.fromEntries(header.split(',').map((part) => part.split('=') as [string, string]));
  const t = parts['t'];
  const v1 = parts['v1'];
  if (!t || !v1) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${raw}`).digest('hex');
  return expected.length === v1.length && timingSafeEqual(Buffer.from(expected), Buffer.from(v1));
};

/** A receiver for webhooks: keeps raw bodies and headers so signatures can be checked. */
export const startWebhookReceiver = async (): Promise<{
  url: string;
  deliveries: WebhookDelivery[];
  fail: { count: number };
  stop: () => Promise<void>;
}> => {
  const deliveries: WebhookDelivery[] = [];
  const fail = { count: 0 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      if (fail.count > 0) {
        fail.count--;
        response.writeHead(500).end();
        return;
      }
      deliveries.push({ headers: request.headers as Record<string, string>, raw, body: JSON.parse(raw) as WebhookDelivery['body'] });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    deliveries,
    fail,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
};
