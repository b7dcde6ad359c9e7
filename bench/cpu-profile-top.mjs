#!/usr/bin/env node
// Top self-time functions of a V8 CPU profile (`node --cpu-prof`), with dist/ locations mapped back to src/
// through the source maps.
//
//   node bench/cpu-profile-top.mjs <file.cpuprofile | directory> [N=15]
//
// Percentages are of busy time (samples that were not idle); idle time is reported on its own.
// To profile Volley's server under a workload:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/servers/volley.mjs 9001 echo &   (SIGTERM writes the profile)
//   node dist/cli/bench/index.js echo -c 100 -s 16 -d 16 --duration 6; kill %1
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const [target, n = '15'] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: node bench/cpu-profile-top.mjs <file.cpuprofile | directory> [N]\n');
  process.exit(2);
}
const file = statSync(target).isDirectory()
  ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f)).sort().pop()
  : target;
if (!file) {
  process.stderr.write(`no .cpuprofile in ${target}\n`);
  process.exit(1);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const time = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  time.set(id, (time.get(id) ?? 0) + dt);
  total += dt;
});

const maps = new Map();
function locate(url, line, column) {
  if (!url.startsWith('file://')) return `${url || '(native)'}${url ? `:${line + 1}` : ''}`;
  const path = fileURLToPath(url);
  if (!maps.has(path)) {
    let map = null;
    try {
      if (existsSync(`${path}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
    } catch {}
    maps.set(path, map);
  }
  const map = maps.get(path);
  const entry = map?.findEntry(line, column);
  if (entry && entry.originalSource) {
    const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : join(path, '..', entry.originalSource);
    return `${relative(process.cwd(), source)}:${entry.originalLine + 1}`;
  }
  return `${relative(process.cwd(), path)}:${line + 1}`;
}

const self = new Map();
let idle = 0;
for (const [id, t] of time) {
  const { functionName, url, lineNumber, columnNumber } = nodes.get(id).callFrame;
  if (functionName === '(idle)') {
    idle += t;
    continue;
  }
  const key = `${functionName || '(anonymous)'}  ${locate(url, lineNumber, columnNumber)}`;
  self.set(key, (self.get(key) ?? 0) + t);
}
const busy = total - idle;
console.log(`${file}: ${(total / 1e3).toFixed(0)} ms sampled, ${(busy / 1e3).toFixed(0)} ms busy (${((100 * busy) / total).toFixed(1)} %)`);
console.log('self % of busy   self ms   function  location');
for (const [key, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
  console.log(`${((100 * t) / busy).toFixed(1).padStart(13)} %  ${(t / 1e3).toFixed(0).padStart(7)}   ${key}`);
}
