// uWebSockets.js (npm `uwebsockets`, Node 20 x64 binary). Fanout uses topics: every connection subscribes to
// one topic and a message is published to it from the sender (`ws.publish`, which skips the sender itself).
// See common.mjs for the contract.
import { createRequire } from 'node:module';
import { config, fatal, startControl } from './common.mjs';

const uWS = createRequire(import.meta.url)('uwebsockets');
const cfg = config();
let connections = 0;
const ready = startControl('uws', cfg, () => connections);
const LIMIT = 64 * 1024 * 1024;

uWS
  .App()
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: LIMIT,
    // As much room as the Node servers' buffers, so nothing is dropped or closed for backpressure.
    maxBackpressure: LIMIT,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    open: (ws) => {
      connections++;
      if (cfg.mode === 'fanout') ws.subscribe('all');
    },
    message:
      cfg.mode === 'echo'
        ? (ws, message, isBinary) => void ws.send(message, isBinary)
        : (ws, message, isBinary) => void ws.publish('all', message, isBinary),
    close: () => {
      connections--;
    },
  })
  .listen(cfg.host, cfg.port, (token) => {
    if (!token) fatal(`uws: cannot listen on ${cfg.host}:${cfg.port}`);
    ready();
  });
