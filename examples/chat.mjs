// A broadcast chat in 15 lines: open http://127.0.0.1:8080 in two tabs. (PORT overrides the port.)
import { createServer } from 'node:http';
import { WebSocketServer } from 'volley';

const page = `<!doctype html><title>chat</title><input id=m autofocus placeholder="say something"><pre id=log></pre><script>
const ws = new WebSocket('ws://' + location.host);
ws.onmessage = (e) => (log.textContent += e.data + '\\n');
m.onkeydown = (e) => { if (e.key === 'Enter' && m.value) { ws.send(m.value); m.value = ''; } };
</script>`;
const server = createServer((req, res) => res.end(page)).listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => {
  ws.on('message', (data) => wss.broadcast(data.toString())); // framed once for every client
});
server.on('listening', () => console.log(`chat on http://127.0.0.1:${server.address().port}`));
