#!/usr/bin/env node
/**
 * Compiles src/protocol/wasm/unmask.wat with wabt (a devDependency) and writes its bytes, base64, into
 * src/protocol/wasm/unmask-module.ts, which the protocol core imports: the package ships no .wasm file and
 * needs no tool to build. Run it after editing the .wat; `npm test` checks the two agree.
 *
 *   node scripts/build-wasm.mjs          # rewrite unmask-module.ts
 *   node scripts/build-wasm.mjs --print  # print the base64 only
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/protocol/wasm/unmask.wat');
const target = join(root, 'src/protocol/wasm/unmask-module.ts');

const tools = await wabt();
const module = tools.parseWat('unmask.wat', readFileSync(source, 'utf8'), { simd: true });
module.validate();
const base64 = Buffer.from(module.toBinary({}).buffer).toString('base64');
module.destroy();

if (process.argv.includes('--print')) {
  process.stdout.write(`${base64}\n`);
} else {
  const lines = base64.match(/.{1,100}/g).map((line) => `  '${line}' +`).join('\n').replace(/ \+$/, '');
  writeFileSync(
    target,
    `/**
 * The bytes of \`unmask.wat\`, compiled by \`node scripts/build-wasm.mjs\` (generated: do not edit; edit the .wat and
 * run the script).
 *
 * @module
 */

/** The WebAssembly module, base64. */
export const UNMASK_WASM_BASE64 =
${lines};
`,
  );
  process.stdout.write(`wrote src/protocol/wasm/unmask-module.ts (${Buffer.from(base64, 'base64').length} bytes of WebAssembly)\n`);
}
