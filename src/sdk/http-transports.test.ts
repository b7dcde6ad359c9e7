/**
 * The HTTP transports against a scripted `fetch`: the long-polling cycle (open, poll, 409, 404), commands sent
 * one request at a time and batched, and an SSE stream read with fetch and split at odd places.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Command } from '../hub/wire.js';
import { systemClock, type FetchInit, type ResponseLike } from './environment.js';
import { until } from './harness.test.js';
import { PollingTransport } from './polling-transport.js';
import { SseTransport } from './sse-transport.js';
import type { TransportHandlers } from './transport.js';

interface Call {
  url: string;
  init: FetchInit | undefined;
  respond(status: number, body?: string): void;
  fail(): void;
}

/** A fetch whose requests wait until the test answers them. */
function scriptedFetch() {
  const calls: Call[] = [];
  const fetch = (url: string, init?: FetchInit): Promise<ResponseLike> =>
    new Promise((resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      calls.push({
        url,
        init,
        respond: (status, body = '') => resolve({ status, ok: status >= 200 && status < 300, body: null, text: () => Promise.resolve(body) }),
        fail: () => reject(new TypeError('fetch failed')),
      });
    });
  return { fetch, calls };
}

function recorder() {
  const events: Array<['open'] | ['message', unknown] | ['close', number, string]> = [];
  const handlers: TransportHandlers = {
    open: () => events.push(['open']),
    message: (message) => events.push(['message', message]),
    close: (code, reason) => events.push(['close', code, reason]),
  };
  return { events, handlers };
}

const ping = (id: number): Command => ({ id, type: 'ping' });

describe('PollingTransport', () => {
  test('opens a session, polls, delivers the messages of each answer in order and polls again', async () => {
    const { fetch, calls } = scriptedFetch();
    const { events, handlers } = recorder();
    const transport = new PollingTransport('http://h/poll', fetch, systemClock, handlers);
    await until(() => calls.length === 1, 1000, 'the open request');
    assert.equal(calls[0]!.url, 'http://h/poll/open');
    assert.equal(calls[0]!.init?.method, 'POST');
    calls[0]!.respond(200, '{"sid":"a b"}');
    await until(() => calls.length === 2, 1000, 'the first poll');
    assert.deepEqual(events, [['open']]);
    assert.equal(calls[1]!.url, 'http://h/poll?sid=a%20b');
    calls[1]!.respond(200, '[{"id":1,"result":{}},{"type":"publication"}]');
    await until(() => calls.length === 3, 1000, 'the next poll');
    assert.deepEqual(events.slice(1), [['message', { id: 1, result: {} }], ['message', { type: 'publication' }]]);
    transport.close();
  });

  test('sends commands one request at a time, batching those that wait', async () => {
    const { fetch, calls } = scriptedFetch();
    const { handlers } = recorder();
    const transport = new PollingTransport('http://h/poll', fetch, systemClock, handlers);
    await until(() => calls.length === 1, 1000, 'open');
    calls[0]!.respond(200, '{"sid":"s"}');
    await until(() => calls.length === 2, 1000, 'poll');
    transport.send([ping(1)]);
    transport.send([ping(2)]);
    transport.send([ping(3)]);
    await until(() => calls.length === 3, 1000, 'the first send');
    assert.equal(calls[2]!.url, 'http://h/poll/send?sid=s');
    assert.deepEqual(JSON.parse(calls[2]!.init!.body!), [ping(1)]);
    calls[2]!.respond(204);
    await until(() => calls.length === 4, 1000, 'the second send');
    assert.deepEqual(JSON.parse(calls[3]!.init!.body!), [ping(2), ping(3)]);
    transport.close();
  });

  test('retries a poll answered 409, and ends with 1006 when the session is unknown (404)', async () => {
    const { fetch, calls } = scriptedFetch();
    const { events, handlers } = recorder();
    new PollingTransport('http://h/poll', fetch, systemClock, handlers);
    await until(() => calls.length === 1, 1000, 'open');
    calls[0]!.respond(200, '{"sid":"s"}');
    await until(() => calls.length === 2, 1000, 'poll');
    calls[1]!.respond(409);
    await until(() => calls.length === 3, 1000, 'the poll again');
    calls[2]!.respond(404, '{"error":{"code":"not_found"}}');
    await until(() => events.length === 2, 1000, 'the close');
    assert.deepEqual(events[1], ['close', 1006, 'session not found']);
  });

  test('a failed open ends before opening', async () => {
    const { fetch, calls } = scriptedFetch();
    const { events, handlers } = recorder();
    new PollingTransport('http://h/poll', fetch, systemClock, handlers);
    await until(() => calls.length === 1, 1000, 'open');
    calls[0]!.fail();
    await until(() => events.length === 1, 1000, 'the close');
    assert.equal(events[0]![0], 'close');
  });

  test('close() aborts the poll in flight and reports nothing', async () => {
    const { fetch, calls } = scriptedFetch();
    const { events, handlers } = recorder();
    const transport = new PollingTransport('http://h/poll', fetch, systemClock, handlers);
    await until(() => calls.length === 1, 1000, 'open');
    calls[0]!.respond(200, '{"sid":"s"}');
    await until(() => calls.length === 2, 1000, 'poll');
    transport.close();
    assert.equal(calls[1]!.init?.signal?.aborted, true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(events, [['open']]);
  });
});

describe('SseTransport over fetch', () => {
  test('reads a stream split at odd places: open with the sid, then one message per event; POSTs to /sse/send', async () => {
    const encoder = new TextEncoder();
    const text = 'event: open\ndata: {"sid":"x"}\n\n: ping\n\ndata: {"type":"publication","n":"é"}\n\ndata: {"id":2,"result":{}}\n\n';
    const bytes = encoder.encode(text);
    const chunks = [bytes.slice(0, 5), bytes.slice(5, 40), bytes.slice(40, 61), bytes.slice(61, 62), bytes.slice(62)];
    const posts: Array<{ url: string; body: string }> = [];
    let finish!: () => void;
    const ended = new Promise<void>((resolve) => (finish = resolve));
    const fetch = async (url: string, init?: FetchInit): Promise<ResponseLike> => {
      if (init?.method === 'POST') {
        posts.push({ url, body: init.body! });
        return { status: 204, ok: true, body: null, text: async () => '' };
      }
      let i = 0;
      return {
        status: 200,
        ok: true,
        text: async () => '',
        body: {
          getReader: () => ({
            read: async () => {
              if (i < chunks.length) return { done: false, value: chunks[i++] };
              await ended;
              return { done: true, value: undefined };
            },
            cancel: async () => {},
          }),
        },
      };
    };
    const { events, handlers } = recorder();
    const transport = new SseTransport('http://h/sse', fetch, undefined, handlers);
    await until(() => events.length === 3, 1000, 'open and two messages');
    assert.deepEqual(events, [['open'], ['message', { type: 'publication', n: 'é' }], ['message', { id: 2, result: {} }]]);
    transport.send([ping(3)]);
    await until(() => posts.length === 1, 1000, 'the POST');
    assert.deepEqual(posts[0], { url: 'http://h/sse/send?sid=x', body: '[{"id":3,"type":"ping"}]' });
    finish();
    await until(() => events.length === 4, 1000, 'the end of the stream');
    assert.deepEqual(events[3], ['close', 1006, 'the event stream ended']);
  });

  test('a stream that does not start with open ends the transport', async () => {
    const bytes = new TextEncoder().encode('data: {"type":"publication"}\n\n');
    let sent = false;
    const fetch = async (): Promise<ResponseLike> => ({
      status: 200,
      ok: true,
      text: async () => '',
      body: { getReader: () => ({ read: async () => (sent ? { done: true } : ((sent = true), { done: false, value: bytes })), cancel: async () => {} }) },
    });
    const { events, handlers } = recorder();
    new SseTransport('http://h/sse', fetch, undefined, handlers);
    await until(() => events.length === 1, 1000, 'the close');
    assert.deepEqual(events[0], ['close', 1006, 'the event stream did not start with an open event']);
  });
});
