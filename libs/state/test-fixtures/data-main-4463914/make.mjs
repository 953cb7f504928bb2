// Makes a data directory with the product as it is on main today (state DB + events), for the migration test.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
const data = '/tmp/fixture/data';
const target = createServer((req, res) => {
  let b = '';
  req.on('data', (c) => (b += c));
  req.on('end', () => {
    const body = JSON.parse(b);
    res.writeHead(body.inputs.n === 'slow' ? 202 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: body.inputs.n }));
  });
});
await new Promise((r) => target.listen(0, '127.0.0.1', r));
const tport = target.address().port;
const hook = createServer((req, res) => {
  req.resume();
  res.writeHead(204);
  res.end();
});
await new Promise((r) => hook.listen(0, '127.0.0.1', r));
const port = 39000 + Math.floor(Math.random() * 1000);
const child = spawn(process.execPath, ['-r', './scripts/swc-register.cjs', 'apps/standalone/src/main.ts'], {
  cwd: '<repository root at 4463914>',
  env: { ...process.env, PORT: String(port), DATA_DIR: data },
  stdio: 'inherit',
});
const url = `http://127.0.0.1:${port}`;
for (let i = 0; i < 200; i++) {
  try {
    if ((await fetch(url + '/health')).ok) break;
  } catch {}
  await new Promise((r) => setTimeout(r, 100));
}
const post = async (path, body) => {
  const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  console.log(path, r.status, JSON.stringify(j).slice(0, 200));
  return j;
};
await post('/v1/workflows', {
  id: 'sync-wf',
  name: 'Sync',
  inputs: [{ name: 'n' }],
  target: { url: `http://127.0.0.1:${tport}/run`, timeoutMs: 5000 },
});
await post('/v1/workflows', {
  id: 'async-wf',
  name: 'Async',
  inputs: [{ name: 'n' }],
  target: { url: `http://127.0.0.1:${tport}/run`, timeoutMs: 3600000, mode: 'async' },
});
await post('/v1/webhooks', {
  url: `http://127.0.0.1:${hook.address().port}/h`,
  events: ['execution.completed', 'batch.completed'],
  secret: 'fixture-secret-1',
});
const done = await post('/v1/batches', {
  name: 'done',
  workflowId: 'sync-wf',
  maxConcurrent: 10,
  batchIntervalSeconds: 0,
  metadata: { team: 'a' },
  items: Array.from({ length: 5 }, (_, i) => ({ inputs: { n: String(i) }, metadata: { row: String(i) } })),
});
const waiting = await post('/v1/batches', {
  name: 'waiting',
  workflowId: 'async-wf',
  maxConcurrent: 1,
  batchIntervalSeconds: 3600,
  items: [{ inputs: { n: 'slow' } }, { inputs: { n: 'later' } }],
});
const future = await post('/v1/batches', {
  name: 'future',
  workflowId: 'sync-wf',
  startAt: '2099-01-01T00:00:00Z',
  maxConcurrent: 2,
  batchIntervalSeconds: 60,
  items: [{ inputs: { n: 'x' } }, { inputs: { n: 'y' } }, { inputs: { n: 'z' } }],
});
await new Promise((r) => setTimeout(r, 3000));
for (const b of [done, waiting, future]) {
  const r = await (await fetch(`${url}/v1/batches/${b.id}`)).json();
  console.log(b.id, r.status, JSON.stringify(r.progress));
}
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
target.close();
hook.close();
console.log(JSON.stringify({ done: done.id, waiting: waiting.id, future: future.id }));
