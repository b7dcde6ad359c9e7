// Shared by every benchmark server: command line, the control endpoint and the readiness line.
//
//   <runtime> bench/servers/<name>.mjs [PORT] [echo|fanout]      (or env PORT, BENCH_MODE; CONTROL_PORT)
//
// Behaviours: `echo` sends every message back to its sender, text as text and binary as binary; `fanout` sends
// every message to every other connection with the library's own broadcast. Compression is off everywhere.
//
// Control endpoint (CONTROL_PORT, default PORT + 1): `GET /stats` answers this process's memory, CPU time and
// open connections as JSON; `GET /stats?gc=1` runs a full GC first (node needs --expose-gc). The generator reads
// it for `idle` (bytes per connection) and for the server CPU share of every run.
//
// When listening, the server prints one line: `READY {"name":…,"pid":…,"port":…,"control":…,"mode":…}`.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

export function config() {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 9001);
  const mode = process.argv[3] ?? process.env.BENCH_MODE ?? 'echo';
  if (!Number.isInteger(port) || port <= 0 || port > 65535) fatal(`bad port '${process.argv[2] ?? process.env.PORT}'`);
  if (mode !== 'echo' && mode !== 'fanout') fatal(`mode must be echo or fanout, not '${mode}'`);
  const control = Number(process.env.CONTROL_PORT ?? port + 1);
  return { port, mode, control, host: process.env.HOST ?? '127.0.0.1' };
}

export function fatal(message) {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function collect() {
  if (globalThis.Bun) {
    globalThis.Bun.gc(true);
    return true;
  }
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
    return true;
  }
  return false;
}

/**
 * CPU time of the whole process (all threads) in µs, from /proc where there is one (Bun's process.cpuUsage()
 * does not count every thread), else process.cpuUsage().
 */
function cpuTime() {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100 on Linux).
    return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
  } catch {
    return process.cpuUsage();
  }
}

/**
 * Starts the control endpoint and prints the readiness line once both it and the WebSocket server listen.
 * `connections()` reports the open WebSocket connections.
 */
export function startControl(name, cfg, connections, extra = {}) {
  const server = createServer((req, res) => {
    if (!req.url?.startsWith('/stats')) {
      res.writeHead(404).end();
      return;
    }
    const gc = req.url.includes('gc=1') ? collect() : false;
    const m = process.memoryUsage();
    const cpu = cpuTime();
    const body = JSON.stringify({
      pid: process.pid,
      runtime: globalThis.Bun ? `bun ${globalThis.Bun.version}` : `node ${process.version}`,
      rss: m.rss,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external ?? 0,
      arrayBuffers: m.arrayBuffers ?? 0,
      connections: connections(),
      cpuUser: cpu.user,
      cpuSystem: cpu.system,
      gc,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.listen(cfg.control, cfg.host);
  return (info = {}) => {
    const announce = () =>
      process.stdout.write(
        `READY ${JSON.stringify({ name, pid: process.pid, port: cfg.port, control: cfg.control, mode: cfg.mode, ...extra, ...info })}\n`,
      );
    if (server.listening) announce();
    else server.once('listening', announce);
  };
}

// The harness stops servers with SIGTERM; exit at once (no graceful close: nothing to save).
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
