// A tiny workflow target for trying Flotilla out: it answers each execution with a greeting built
// from its inputs, after a short delay. Run it with `npm run example-target` (port 4000, or PORT),
// register a workflow whose target url is http://127.0.0.1:4000/run, and watch the calls arrive.
//   FAIL_RATE=0.2  answers 503 to that share of calls (the executor retries them)
//   DELAY_MS=50    how long each call takes
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 4000);
const failRate = Number(process.env.FAIL_RATE ?? 0);
const delayMs = Number(process.env.DELAY_MS ?? 50);
let calls = 0;

createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => (body += chunk));
  request.on('end', () => {
    const call = ++calls;
    const execution = body ? JSON.parse(body) : {};
    const key = request.headers['idempotency-key'];
    setTimeout(() => {
      if (Math.random() < failRate) {
        console.log(`#${call} ${key} attempt ${execution.attempt}: 503`);
        response.writeHead(503).end();
        return;
      }
      const name = execution.inputs?.first_name ?? execution.inputs?.email ?? 'there';
      console.log(
        `#${call} ${key} attempt ${execution.attempt} profile=${execution.profile ?? '-'} inputs=${JSON.stringify(execution.inputs)}`,
      );
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ greeting: `Hello, ${name}!`, handledAt: new Date().toISOString() }));
    }, delayMs);
  });
}).listen(port, '127.0.0.1', () => console.log(`example target listening on http://127.0.0.1:${port}/run`));
