/**
 * A no-op workflow target as a process of its own, so that neither side of a race shares its CPU
 * with the target: answers every POST with `{"ok":true}` once the body is read, and counts calls.
 * Prints `listening <port>` when ready; `GET /calls` answers the number of calls so far.
 *
 *   node dist/bench/noop-target.js [--port 0]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const index = process.argv.indexOf('--port');
const port = index >= 0 ? Number(process.argv[index + 1]) : 0;
let calls = 0;

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/calls') {
    response.writeHead(200, { 'content-type': 'text/plain' }).end(String(calls));
    return;
  }
  request.resume();
  request.on('end', () => {
    calls++;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
