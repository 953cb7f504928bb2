import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { until } from '@flotilla/testing/poll';
import { TargetServer } from './execution.fixtures';
import { TargetClient, type TargetCalls } from './target-client';
import { ThreadedTargetClient } from './threaded-target-client';

/** Holds this thread's event loop for `ms`, as a long synchronous step of the executor would. */
const blockFor = (ms: number): void => {
  const until = Date.now() + ms;
  while (Date.now() < until);
};

/** A target in a process of its own, answering every call after `delayMs`: it answers whatever this thread is doing. */
const startTargetProcess = async (delayMs: number): Promise<{ child: ChildProcess; url: string }> => {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:http').createServer((q, r) => { q.resume(); setTimeout(() => r.end('late'), ${delayMs}); });
       s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, url: `http://127.0.0.1:${chunk.toString().trim()}/run` };
};

describe('ThreadedTargetClient', () => {
  const clients: TargetCalls[] = [];
  let target: TargetServer | undefined;
  const failures: Error[] = [];
  const threaded = (options: Partial<ConstructorParameters<typeof ThreadedTargetClient>[0]> = {}, workerFile?: string) => {
    const client = new ThreadedTargetClient({ maxSocketsPerOrigin: 4, ...options }, (error) => failures.push(error), workerFile);
    clients.push(client);
    return client;
  };
  const request = (url: string, timeoutMs = 5000) => ({ url, body: '{"a":1}', idempotencyKey: 'bat_x.0', timeoutMs });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await target?.close();
    target = undefined;
    failures.length = 0;
  });

  it('makes the call on its thread as TargetClient makes it: the request sent, the answer returned', async () => {
    target = await TargetServer.start(() => ({ status: 503, headers: { 'Retry-After': '7' }, body: 'busy' }));
    const client = threaded();

    const results = await Promise.all([1, 2, 3].map(() => client.call(request(target!.url))));

    expect(results).toEqual(
      Array.from({ length: 3 }, () => ({
        kind: 'response',
        status: 503,
        statusText: 'Service Unavailable',
        retryAfter: '7',
        body: 'busy',
      })),
    );
    expect(target.calls).toHaveLength(3);
    expect(target.calls[0]?.headers['idempotency-key']).toBe('bat_x.0');
    expect(target.calls[0]?.headers['content-type']).toBe('application/json');
    expect(target.calls[0]?.body).toEqual({ a: 1 });
    expect(failures).toEqual([]);
  });

  it("a call's answer is taken in while this thread's event loop is held, where a client on this thread times out", async () => {
    const { child, url } = await startTargetProcess(100);
    try {
      const inline = new TargetClient({ maxSocketsPerOrigin: 1 });
      clients.push(inline);
      const client = threaded();
      // Both clients warmed up (the worker started, a connection open), so only the hold differs.
      expect(await client.call(request(url))).toMatchObject({ kind: 'response', body: 'late' });
      expect(await inline.call(request(url))).toMatchObject({ kind: 'response', body: 'late' });

      const onThread = client.call(request(url, 400));
      const here = inline.call(request(url, 400));
      await new Promise((sent) => setTimeout(sent, 50));
      // Held from a setImmediate callback, so the loop's next turn starts with a fresh clock and
      // runs the expired timers before it reads the sockets: the answer lost to the timeout here.
      await new Promise<void>((held) => setImmediate(() => (blockFor(600), held())));

      expect(await onThread).toMatchObject({ kind: 'response', status: 200, body: 'late' });
      expect(await here).toEqual({ kind: 'failure', reason: 'timeout', error: 'timed out after 400 ms' });
    } finally {
      child.kill();
    }
  });

  it('applies the outbound rules on its thread: a denied address is refused before a byte is sent', async () => {
    target = await TargetServer.start(() => ({ status: 200, body: 'ok' }));
    const client = threaded({ outbound: { deny: ['127.0.0.0/8', '::1/128'], allow: [], dnsServers: [] } });

    const literal = await client.call(request(target.url));
    const named = await client.call(request(target.url.replace('127.0.0.1', 'localhost')));

    expect(literal.kind === 'failure' && literal.error).toContain('outbound call refused: 127.0.0.1 is in a denied range');
    expect(named.kind === 'failure' && named.error).toMatch(/outbound call refused: localhost resolves to .* \(EOUTBOUNDDENIED\)/);
    expect(target.calls).toHaveLength(0);
  });

  it('an aborted signal drops the call with its reason, and the target sees the request go away', async () => {
    target = await TargetServer.start(() => ({ status: 200, delayMs: 3000 }));
    const client = threaded();
    const stopping = new AbortController();
    const call = client.call(request(target.url), stopping.signal);
    await until(() => target!.open.now === 1, 10_000, 'the call at the target');

    stopping.abort(new Error('stopping'));

    await expect(call).rejects.toThrow('stopping');
    await until(() => target!.open.now === 0, 5_000, 'the request gone from the target');
    expect(target.calls).toHaveLength(1);
    await expect(client.call(request(target.url), stopping.signal)).rejects.toThrow('stopping');
  });

  it('a request that cannot be built is refused as TargetClient refuses it', async () => {
    const client = threaded();
    const inline = new TargetClient({ maxSocketsPerOrigin: 1 });
    clients.push(inline);

    const refusal = await inline.call(request('http://exa mple.com/run')).catch((error: Error) => error.message);

    expect(typeof refusal).toBe('string');
    await expect(client.call(request('http://exa mple.com/run'))).rejects.toThrow(refusal as string);
  });

  it('without a worker to start, makes the calls on this thread and says so', async () => {
    target = await TargetServer.start(() => ({ status: 200, body: 'here' }));
    const client = threaded({}, join(tmpdir(), 'no-such-target-calls.worker.js'));

    expect(await client.call(request(target.url))).toMatchObject({ kind: 'response', status: 200, body: 'here' });
    expect(failures.map((error) => error.message)).toEqual([expect.stringContaining('No call worker at')]);
  });

  it('a worker that fails before it listens made none of the calls: they are made on this thread', async () => {
    target = await TargetServer.start(() => ({ status: 200, body: 'here' }));
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-call-worker-'));
    try {
      const file = join(dir, 'broken.worker.js');
      writeFileSync(file, "throw new Error('cannot start');");
      const client = threaded({}, file);

      const results = await Promise.all([client.call(request(target.url)), client.call(request(target.url))]);

      expect(results).toEqual([expect.objectContaining({ body: 'here' }), expect.objectContaining({ body: 'here' })]);
      expect(target.calls).toHaveLength(2);
      expect(failures.map((error) => error.message)).toEqual(['cannot start']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker that stops during calls ends them as connection failures; the next calls are made on this thread', async () => {
    target = await TargetServer.start(() => ({ status: 200, body: 'here' }));
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-call-worker-'));
    try {
      // Listens, then dies on its first orders, as a worker would that crashed mid-call.
      const file = join(dir, 'dying.worker.js');
      writeFileSync(
        file,
        "const { parentPort } = require('node:worker_threads'); parentPort.postMessage('ready'); parentPort.on('message', () => process.exit(3));",
      );
      const client = threaded({}, file);
      await new Promise((listening) => setTimeout(listening, 300));

      expect(await client.call(request(target.url))).toEqual({
        kind: 'failure',
        reason: 'connection',
        error: "the executor's call thread stopped during the call (The call worker exited with code 3)",
      });
      expect(await client.call(request(target.url))).toMatchObject({ kind: 'response', body: 'here' });
      expect(target.calls).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('once closed, refuses calls', async () => {
    const client = threaded();
    await client.close();

    await expect(client.call(request('http://127.0.0.1:1/run'))).rejects.toThrow('The target client is closed');
  });
});
