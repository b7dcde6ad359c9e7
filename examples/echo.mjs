// An echo server: text stays text, binary stays binary. `node examples/echo.mjs`, then `npx volley connect ws://127.0.0.1:9001`.
import { WebSocketServer } from 'volley';

const wss = new WebSocketServer({ port: Number(process.env.PORT ?? 9001), host: '127.0.0.1', perMessageDeflate: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString()));
});
wss.on('listening', () => console.log(`echo on ws://127.0.0.1:${wss.address().port}`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
