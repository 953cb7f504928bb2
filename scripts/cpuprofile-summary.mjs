// Summarises a V8 .cpuprofile (from `node --cpu-prof`) by self time: the functions where the
// samples land, with their file and line, and the same grouped by package or source folder.
//   node scripts/cpuprofile-summary.mjs <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

const [path, topArg] = process.argv.slice(2);
if (!path) throw new Error('usage: cpuprofile-summary.mjs <file.cpuprofile> [top]');
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(path, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
// Each sample is one tick spent in that node's function itself; timeDeltas give the tick lengths.
const selfUs = new Map();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const byFunction = new Map();
const byPlace = new Map();
const placeOf = (url) => {
  if (url === '') return '(native / V8)';
  if (url.startsWith('node:')) return url;
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0)
    return url
      .slice(modules + 13)
      .split('/')
      .slice(0, url.slice(modules + 13).startsWith('@') ? 2 : 1)
      .join('/');
  const dist = url.indexOf('/dist/');
  return dist >= 0
    ? url
        .slice(dist + 6)
        .split('/')
        .slice(0, 3)
        .join('/')
    : url;
};
for (const [id, us] of selfUs) {
  const { callFrame } = byId.get(id);
  const url = callFrame.url.replace(/^file:\/\//, '');
  const name = `${callFrame.functionName || '(anonymous)'}  ${url === '' ? '' : `${url.split('/').slice(-2).join('/')}:${callFrame.lineNumber + 1}`}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  const place = placeOf(url);
  byPlace.set(place, (byPlace.get(place) ?? 0) + us);
}
const print = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n))
    console.log(`${(us / 1e6).toFixed(2).padStart(7)} s ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
};
console.log(`${path}: ${(total / 1e6).toFixed(2)} s sampled`);
print('by function (self time)', byFunction, top);
print('by package or folder (self time)', byPlace, 15);

// Inclusive time (the function and everything it called), counted once per sample even when the
// function is on the stack twice: where whole phases go (the projection, the appends, the parse).
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const inclusive = new Map();
profile.samples.forEach((id, i) => {
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const { callFrame } = byId.get(at);
    const name = `${callFrame.functionName || '(anonymous)'}  ${callFrame.url.split('/').slice(-2).join('/')}:${callFrame.lineNumber + 1}`;
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
});
print('by function (inclusive time)', inclusive, top);
