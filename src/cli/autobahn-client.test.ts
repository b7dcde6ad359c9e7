import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebSocketServer, type WebSocket } from '../socket/index.js';
import { runAutobahnClient } from './autobahn-client.js';

/**
 * A stand-in for the fuzzingserver: 3 cases. Case 1 checks the echo of a text and a binary message, case 2
 * never ends (the driver must time it out), case 3 drops the connection without a close frame.
 */
async function fakeFuzzingServer() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeat: false, perMessageDeflate: true });
  await once(wss, 'listening');
  const requests: string[] = [];
  const echoes: [string, boolean][] = [];
  wss.on('connection', (ws: WebSocket, req: { url?: string }) => {
    const url = req.url ?? '';
    requests.push(url);
    if (url === '/getCaseCount') {
      ws.send('3');
      ws.close(1000);
    } else if (url.startsWith('/runCase?case=1&')) {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        echoes.push([isBinary ? data.toString('hex') : data.toString(), isBinary]);
        if (echoes.length === 2) ws.close(1000);
      });
      ws.send('text');
      ws.send(Buffer.from([1, 2, 3]));
    } else if (url.startsWith('/runCase?case=3&')) {
      ws.terminate();
    } else if (url.startsWith('/updateReports')) {
      ws.close(1000);
    }
  });
  return { wss, requests, echoes, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

const servers: WebSocketServer[] = [];
after(async () => {
  for (const wss of servers) {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
});

test('the Autobahn driver runs every case, echoes messages with their type, survives failing cases and updates the reports', { timeout: 15_000 }, async () => {
  const fake = await fakeFuzzingServer();
  servers.push(fake.wss);
  const lines: string[] = [];
  const summary = await runAutobahnClient({ url: `${fake.url}/`, agent: 'volley test', caseTimeout: 500, progressEvery: 2, log: (line) => lines.push(line) });

  assert.equal(summary.cases, 3);
  assert.deepEqual(summary.timedOut, [2]);
  assert.deepEqual(fake.echoes, [
    ['text', false],
    ['010203', true],
  ]);
  assert.deepEqual(fake.requests, [
    '/getCaseCount',
    '/runCase?case=1&agent=volley%20test',
    '/runCase?case=2&agent=volley%20test',
    '/runCase?case=3&agent=volley%20test',
    '/updateReports?agent=volley%20test',
  ]);
  assert.ok(lines.includes('autobahn: 2/3 cases'), lines.join('\n'));
  assert.ok(lines.includes('autobahn: 3/3 cases'), lines.join('\n'));
});

test('the Autobahn driver fails with a clear message when the fuzzingserver is not there', { timeout: 10_000 }, async () => {
  const fake = await fakeFuzzingServer();
  const url = fake.url;
  await new Promise((resolve) => fake.wss.close(resolve));
  await assert.rejects(runAutobahnClient({ url }), /cannot get the case count from ws:\/\/127\.0\.0\.1:\d+: connection refused/);
});
