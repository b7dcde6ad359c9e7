// Bun's built-in server (run with node_modules/.bin/bun). Fanout uses topics (`ws.publish` skips the sender).
// See common.mjs for the contract.
import { config, startControl } from './common.mjs';

const cfg = config();
let connections = 0;
const ready = startControl('bun', cfg, () => connections);
const LIMIT = 64 * 1024 * 1024;

Bun.serve({
  hostname: cfg.host,
  port: cfg.port,
  fetch(req, server) {
    if (server.upgrade(req)) return undefined;
    return new Response('Upgrade Required', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: LIMIT,
    backpressureLimit: LIMIT,
    closeOnBackpressureLimit: false,
    idleTimeout: 0,
    sendPings: false,
    open(ws) {
      connections++;
      if (cfg.mode === 'fanout') ws.subscribe('all');
    },
    message: cfg.mode === 'echo' ? (ws, message) => void ws.send(message) : (ws, message) => void ws.publish('all', message),
    close() {
      connections--;
    },
  },
});
ready();
