// The floor any Node server stands on: a raw node:net server that answers the upgrade (so the generator can
// connect) and then echoes every byte it reads, unparsed. The generator's masked frames come back masked; it
// handles that. Echo only (no fanout). A read that is exactly one close frame is echoed and the TCP connection
// ended, as a WebSocket server would (so `connect` measures a full lifecycle here too).
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { config, fatal, startControl } from './common.mjs';

const cfg = config();
if (cfg.mode !== 'echo') fatal('net-echo only echoes (no fanout)');
let connections = 0;
const ready = startControl('net-echo', cfg, () => connections);
const END = Buffer.from('\r\n\r\n');

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  let head = Buffer.alloc(0);
  const onHandshake = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf(END);
    if (end === -1) {
      if (head.length > 16384) socket.destroy();
      return;
    }
    const key = /\r\nsec-websocket-key:\s*([^\r\n]+)/i.exec(head.toString('latin1', 0, end))?.[1]?.trim();
    if (!key) return void socket.destroy();
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    connections++;
    socket.once('close', () => connections--);
    socket.removeListener('data', onHandshake);
    socket.on('data', echo);
    if (head.length > end + 4) echo(head.subarray(end + 4));
    head = null;
  };
  function echo(chunk) {
    socket.write(chunk);
    if (chunk[0] === 0x88 && chunk.length <= 131 && (chunk[1] & 0x7f) + 6 === chunk.length) socket.end();
  }
  socket.on('data', onHandshake);
});
server.listen(cfg.port, cfg.host, () => ready());
