// Volley's core WebSocketServer (from dist/: run `npm run build` first; VOLLEY_DIST may point at another build's
// index.js, as the compare harness does with its snapshot). See common.mjs for the contract.
import { pathToFileURL } from 'node:url';
import { config, startControl } from './common.mjs';

const { WebSocketServer } = await import(process.env.VOLLEY_DIST ? pathToFileURL(process.env.VOLLEY_DIST).href : '../../dist/index.js');

const cfg = config();
const wss = new WebSocketServer({ port: cfg.port, host: cfg.host, perMessageDeflate: false, heartbeat: false });
const ready = startControl('volley', cfg, () => wss.clients.size);

wss.on('connection', (ws) => {
  if (cfg.mode === 'echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    // Framed once, the same bytes handed to every other client.
    ws.on('message', (data, isBinary) => wss.broadcast(data, { binary: isBinary, except: ws }));
  }
});
wss.on('listening', () => ready());
