import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TargetServer } from './execution.fixtures';
import { OutboundRules } from '@flotilla/platform';
import { TargetClient } from './target-client';

describe('TargetClient', () => {
  let client: TargetClient;
  let target: TargetServer | undefined;
  let raw: Server | undefined;

  beforeEach(() => {
    client = new TargetClient({ maxSocketsPerOrigin: 1 });
  });
  afterEach(async () => {
    client.close();
    await target?.close();
    target = undefined;
    raw?.closeAllConnections();
    await new Promise<void>((resolve) => (raw ? raw.close(() => resolve()) : resolve()));
    raw = undefined;
  });

  const request = (url: string, timeoutMs = 5000) => ({ url, body: '{"a":1}', idempotencyKey: 'bat_x.0', timeoutMs });

  it('with outbound rules, refuses a denied address, IP literal or resolved name, before a byte is sent', async () => {
    target = await TargetServer.start(() => ({ status: 200, body: 'ok' }));
    const guarded = new TargetClient({
      maxSocketsPerOrigin: 1,
      outbound: new OutboundRules({ deny: ['127.0.0.0/8', '::1/128'], allow: [], dnsServers: [] }),
    });
    try {
      const literal = await guarded.call(request(target.url));
      expect(literal).toMatchObject({ kind: 'failure', reason: 'connection' });
      expect(literal.kind === 'failure' && literal.error).toContain('outbound call refused: 127.0.0.1 is in a denied range');
      const named = await guarded.call(request(target.url.replace('127.0.0.1', 'localhost')));
      expect(named).toMatchObject({ kind: 'failure', reason: 'connection' });
      expect(named.kind === 'failure' && named.error).toMatch(/outbound call refused: localhost resolves to .* \(EOUTBOUNDDENIED\)/);
      expect(target.calls).toHaveLength(0);
      // The same call with the default rules (loopback allowed) goes through.
      const open = new TargetClient({
        maxSocketsPerOrigin: 1,
        outbound: new OutboundRules({ deny: ['169.254.0.0/16'], allow: [], dnsServers: [] }),
      });
      expect(await open.call(request(target.url.replace('127.0.0.1', 'localhost')))).toMatchObject({ kind: 'response', status: 200 });
      open.close();
    } finally {
      guarded.close();
    }
  });

  it('returns the status, the reason phrase, Retry-After and the body of any answer', async () => {
    target = await TargetServer.start(() => ({ status: 503, headers: { 'Retry-After': '7' }, body: 'busy' }));
    expect(await client.call(request(target.url))).toEqual({
      kind: 'response',
      status: 503,
      statusText: 'Service Unavailable',
      retryAfter: '7',
      body: 'busy',
    });
  });

  it('a timed-out call gives its connection back at once, so the next call is not held up', async () => {
    target = await TargetServer.start((_call, n) => (n === 0 ? { status: 200, delayMs: 3000 } : { status: 200, body: 'fast' }));

    expect(await client.call(request(target.url, 100))).toEqual({ kind: 'failure', reason: 'timeout', error: 'timed out after 100 ms' });
    // One socket per origin: had the timed-out request kept it, this one would wait for the slow answer and time out too.
    expect(await client.call(request(target.url, 1000))).toMatchObject({ kind: 'response', status: 200, body: 'fast' });
  });

  it('a connection cut in the middle of the body is a connection failure, not a hang until the timeout', async () => {
    raw = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Length': '1000' });
      res.write('only part of it');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((resolve) => raw!.listen(0, '127.0.0.1', resolve));
    const started = Date.now();

    const result = await client.call(request(`http://127.0.0.1:${(raw.address() as AddressInfo).port}/`, 5000));

    expect(result).toEqual({ kind: 'failure', reason: 'connection', error: 'connection reset (ECONNRESET)' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  /** A loopback server of the test's own, for answers TargetServer cannot give; its URL. */
  const listen = async (handler: Parameters<typeof createServer>[1]): Promise<string> => {
    raw = createServer(handler);
    await new Promise<void>((resolve) => raw!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  };

  it('POSTs the body as JSON, with its length and the Idempotency-Key, to the path and query of the URL', async () => {
    const received: { url?: string; headers?: Record<string, unknown>; body?: string } = {};
    const origin = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        Object.assign(received, { url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.end('ok');
      });
    });

    await client.call({ url: `${origin}/run?tenant=é`, body: '{"name":"Zoë"}', idempotencyKey: 'bat_x.3', timeoutMs: 5000 });

    expect(received.url).toBe('/run?tenant=%C3%A9');
    expect(received.body).toBe('{"name":"Zoë"}');
    expect(received.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength('{"name":"Zoë"}')),
      'idempotency-key': 'bat_x.3',
    });
  });

  it("the reason phrase is the standard one for a standard status, the server's own otherwise", async () => {
    const origin = await listen((req, res) => {
      req.resume();
      if (req.url === '/standard') res.writeHead(404, 'Nothing Here').end();
      else res.writeHead(599, 'Network Connect Timeout').end();
    });

    expect(await client.call(request(`${origin}/standard`))).toMatchObject({ status: 404, statusText: 'Not Found' });
    expect(await client.call(request(`${origin}/other`))).toMatchObject({ status: 599, statusText: 'Network Connect Timeout' });
  });

  it('a body over the cap fails the call as too_large once the cap is passed, and gives its connection back', async () => {
    client.close();
    client = new TargetClient({ maxSocketsPerOrigin: 1, maxResponseBytes: 1024 });
    let calls = 0;
    const origin = await listen((req, res) => {
      req.resume();
      if (calls++ > 0) return void res.end('small');
      // A body that never ends: a client reading it to the end before checking its size would time out instead.
      res.writeHead(200);
      const writing = setInterval(() => res.write('x'.repeat(512)), 5);
      res.on('close', () => clearInterval(writing));
    });

    expect(await client.call(request(origin, 5000))).toEqual({
      kind: 'failure',
      reason: 'too_large',
      error: 'response body exceeds 1024 bytes',
    });
    expect(await client.call(request(origin, 1000))).toMatchObject({ kind: 'response', status: 200, body: 'small' });
  });

  it('a connection closed before any answer is a connection reset', async () => {
    const origin = await listen((req) => {
      req.resume();
      req.socket.destroy();
    });

    expect(await client.call(request(origin))).toEqual({ kind: 'failure', reason: 'connection', error: 'connection reset (ECONNRESET)' });
  });

  it('an aborted signal drops the call with its reason', async () => {
    target = await TargetServer.start(() => ({ status: 200, delayMs: 3000 }));
    const stopping = new AbortController();
    const call = client.call(request(target.url), stopping.signal);
    setTimeout(() => stopping.abort(new Error('stopping')), 50);

    await expect(call).rejects.toThrow('stopping');
  });
});
