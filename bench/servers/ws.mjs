// ws 8 with bufferutil (native masking), compression off. `WS_NO_BUFFER_UTIL=1` (see ws-nobufferutil.mjs) makes
// ws use its JavaScript masking instead. See common.mjs for the contract.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { config, startControl } from './common.mjs';

const { WebSocketServer, WebSocket } = await import('ws');
const require = createRequire(import.meta.url);
const bufferUtil = require(join(dirname(require.resolve('ws')), 'lib/buffer-util.js'));
const usesBufferutil = String(bufferUtil.mask).includes('bufferUtil');

const cfg = config();
const name = process.env.WS_NO_BUFFER_UTIL ? 'ws-nobufferutil' : 'ws';
const wss = new WebSocketServer({ port: cfg.port, host: cfg.host, perMessageDeflate: false });
const ready = startControl(name, cfg, () => wss.clients.size, { bufferutil: usesBufferutil });

wss.on('connection', (ws) => {
  if (cfg.mode === 'echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    // ws has no broadcast helper: the documented way is a loop over wss.clients.
    ws.on('message', (data, isBinary) => {
      const options = { binary: isBinary };
      for (const client of wss.clients) if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, options);
    });
  }
});
wss.on('listening', () => ready());
