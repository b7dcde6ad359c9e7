/**
 * Guards DESIGN.md's layering: a module imports only from its own layer or the layers below it, and the
 * protocol core imports nothing that does I/O.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Layers from the bottom up; each may import those at a lower or equal rank. */
const RANK: Record<string, number> = {
  protocol: 0,
  sdk: 0,
  socket: 1,
  engines: 2,
  hub: 2,
  transports: 3,
  http: 4,
  server: 5,
  cli: 6,
  console: 6,
};
/** hub/ defines the interfaces that engines/ implements, so engines may import hub (not the reverse). */
const EXTRA_ALLOWED: Record<string, string[]> = { engines: ['hub'] };
/** The client SDK runs in browsers: of the project it may import the hub's wire types and nothing else. */
const SDK_ALLOWED = new Set(['hub/wire.ts']);
/** Node built-ins the sans-I/O core may use (pure computation only). */
const PROTOCOL_BUILTINS = new Set(['node:buffer', 'node:crypto']);

const here = dirname(fileURLToPath(import.meta.url));
const srcRoot = resolve(here, '..', 'src');

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) yield* sourceFiles(full);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield full;
  }
}

function importsOf(source: string): string[] {
  const found: string[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of source.matchAll(pattern)) found.push((match[1] ?? match[2])!);
  return found;
}

function layerOf(file: string): string | undefined {
  const rel = relative(srcRoot, file).split(sep);
  return rel.length > 1 ? rel[0] : undefined;
}

test('every import points to the same layer or a lower one', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(srcRoot)) {
    // Tests and test-only helpers (a `testing/` folder) may assemble layers; library code may not.
    if (file.endsWith('.test.ts') || file.split(sep).includes('testing')) continue;
    const layer = layerOf(file);
    if (layer === undefined || RANK[layer] === undefined) continue;
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) {
        if (layer === 'protocol' && !PROTOCOL_BUILTINS.has(spec)) violations.push(`${relative(srcRoot, file)} imports ${spec}`);
        if (layer === 'sdk' && spec.startsWith('node:')) violations.push(`${relative(srcRoot, file)} (sdk, runs in browsers) imports ${spec}`);
        continue;
      }
      const targetFile = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      const target = layerOf(targetFile);
      if (target === undefined || target === layer) continue;
      if (layer === 'sdk') {
        if (!SDK_ALLOWED.has(relative(srcRoot, targetFile).split(sep).join('/'))) violations.push(`${relative(srcRoot, file)} (sdk) imports ${spec}`);
        continue;
      }
      const lower = (RANK[target] ?? 99) < RANK[layer]! && layer !== 'sdk';
      const allowed = lower || (EXTRA_ALLOWED[layer] ?? []).includes(target);
      if (!allowed) violations.push(`${relative(srcRoot, file)} (${layer}) imports ${spec} (${target})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the layer check notices an upward import', () => {
  assert.deepEqual(importsOf("import { x } from '../server/y.js';\nexport * from './z.js';"), ['../server/y.js', './z.js']);
});
