import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VolleyError } from './errors.js';
import { endpoints } from './urls.js';

describe('endpoints', () => {
  test('maps http(s)://host:port to the WebSocket, SSE and polling endpoints', () => {
    assert.deepEqual(endpoints('http://localhost:8080'), {
      base: 'http://localhost:8080',
      websocket: 'ws://localhost:8080/ws',
      sse: 'http://localhost:8080/sse',
      poll: 'http://localhost:8080/poll',
    });
    assert.equal(endpoints('https://rt.example.com/').websocket, 'wss://rt.example.com/ws');
  });

  test('keeps a path prefix', () => {
    assert.equal(endpoints('https://example.com/realtime/').sse, 'https://example.com/realtime/sse');
  });

  test('accepts the WebSocket URL itself', () => {
    assert.deepEqual(endpoints('wss://example.com/ws'), {
      base: 'https://example.com',
      websocket: 'wss://example.com/ws',
      sse: 'https://example.com/sse',
      poll: 'https://example.com/poll',
    });
  });

  test('refuses other schemes, relative URLs and queries', () => {
    for (const url of ['ftp://x', '/ws', 'http://x/?a=1', 'not a url']) {
      assert.throws(() => endpoints(url), (e: unknown) => e instanceof VolleyError && e.code === 'VOLLEY_ERR_INVALID_ARGUMENT', url);
    }
  });
});
