// Socket.IO 4, WebSocket transport only, compression off. Messages are events named "m"; echo re-emits to the
// sender, fanout uses `socket.broadcast.emit` (everyone but the sender). See common.mjs for the contract.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { config, startControl } from './common.mjs';

const cfg = config();
const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 64 * 1024 * 1024,
});
let connections = 0;
const ready = startControl('socketio', cfg, () => connections);

io.on('connection', (socket) => {
  connections++;
  socket.on('disconnect', () => connections--);
  if (cfg.mode === 'echo') socket.on('m', (data) => socket.emit('m', data));
  else socket.on('m', (data) => socket.broadcast.emit('m', data));
});
httpServer.listen(cfg.port, cfg.host, () => ready());
