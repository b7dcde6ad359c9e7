#!/usr/bin/env node
/**
 * Bundles the client SDK for browsers: dist/sdk/browser.js (compiled by `tsc`) and everything it imports
 * become one minified ES module, dist/browser/volley-client.js, with a source map. `volley serve` serves it
 * at /volley-client.js.
 *
 *   npm run build && node scripts/build-browser.mjs
 *
 * The SDK must not import Node built-ins; with platform 'browser' esbuild fails the build if it does.
 */
import { build } from 'esbuild';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'sdk', 'browser.js');
const outfile = process.argv[2] ?? join(root, 'dist', 'browser', 'volley-client.js');

if (!existsSync(entry)) {
  console.error(`${relative(root, entry)} is missing: run \`npm run build\` (tsc) first`);
  process.exit(1);
}

const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});

const inputs = Object.keys(result.metafile.inputs);
const outside = inputs.filter((path) => !path.replace(/\\/g, '/').includes('dist/sdk/') && !path.replace(/\\/g, '/').includes('dist/hub/wire.js'));
if (outside.length > 0) {
  console.error(`the browser bundle pulled in modules outside the SDK: ${outside.join(', ')}`);
  process.exit(1);
}
console.log(`${relative(root, outfile) || outfile}: ${statSync(outfile).size} bytes from ${inputs.length} modules`);
