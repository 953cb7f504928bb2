import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TargetServer } from './execution.fixtures';
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

  it('an aborted signal drops the call with its reason', async () => {
    target = await TargetServer.start(() => ({ status: 200, delayMs: 3000 }));
    const stopping = new AbortController();
    const call = client.call(request(target.url), stopping.signal);
    setTimeout(() => stopping.abort(new Error('stopping')), 50);

    await expect(call).rejects.toThrow('stopping');
  });
});
