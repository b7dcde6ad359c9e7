// Volley's hub, as `volley serve` builds it (createVolleyServer from dist/: run `npm run build` first; VOLLEY_DIST
// may point at another build's index.js, as the compare harness does with its snapshot). Fanout only: the
// generator (`volley bench fanout --volley-hub`) subscribes every connection to the channel `bench` and publishes
// `publish` commands to it; the WebSocket endpoint is /ws. See common.mjs for the contract.
//
// Configured as a typical live feed would be, and as light as the other peers where that changes nothing real:
// - memory broker and memory history, history on in the default namespace with the hub's defaults (the last 100
//   publications for 10 minutes), so a subscriber that reconnects recovers exactly what it missed — the reason to
//   run a hub rather than a bare WebSocket server. HUB_HISTORY_SIZE=0 turns history off (at-most-once delivery)
//   to see what it costs;
// - JSON encoding (the generator offers volley.v1.json), anonymous clients allowed to subscribe and publish;
// - no rate limits (the publisher sends thousands of publishes a second), permessage-deflate off (the default);
// - everything else as `volley serve` has it: Prometheus metrics, WebSocket heartbeat, the 1 MiB outbound queue per
//   client before the slow-consumer policy, the HTTP fallbacks (idle here); logs at `warn`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { config, fatal, startControl } from './common.mjs';

const dist = process.env.VOLLEY_DIST ? dirname(process.env.VOLLEY_DIST) : fileURLToPath(new URL('../../dist', import.meta.url));
const { loadConfig } = await import(pathToFileURL(join(dist, 'server/config.js')).href);
const { createVolleyServer } = await import(pathToFileURL(join(dist, 'server/create.js')).href);

const cfg = config();
if (cfg.mode !== 'fanout') fatal('volley-hub runs the fanout mode only (the hub has no echo)');
const historySize = Number(process.env.HUB_HISTORY_SIZE ?? 100);
if (!Number.isSafeInteger(historySize) || historySize < 0) fatal(`HUB_HISTORY_SIZE must be a non-negative integer, not '${process.env.HUB_HISTORY_SIZE}'`);

const settings = {
  host: cfg.host,
  port: cfg.port,
  allowAnonymous: true,
  history: 'memory',
  namespaces: { default: { historySize, historyTtlMs: 600_000, subscribe: 'anyone', publish: 'anyone' } },
  rateLimits: { connection: false },
  websocket: { perMessageDeflate: false },
  logLevel: 'warn',
};
// Through a config file, so the settings are validated like `volley serve --config` would; no environment
// variables and no volley.config.* of the working directory take part.
const dir = mkdtempSync(join(tmpdir(), 'volley-hub-bench-'));
let loaded;
try {
  writeFileSync(join(dir, 'volley.config.json'), JSON.stringify(settings));
  loaded = await loadConfig({ flags: { config: join(dir, 'volley.config.json') }, env: {}, cwd: dir });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const server = await createVolleyServer(loaded.config);
const ready = startControl('volley-hub', cfg, () => server.hub.sessionCount, { historySize });
await server.listen();
ready();
