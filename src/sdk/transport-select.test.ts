import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TransportSelector } from './transport-select.js';

describe('TransportSelector', () => {
  test('a round tries every transport once, from the preferred one, wrapping around', () => {
    const select = new TransportSelector(['websocket', 'sse', 'polling'], 3000);
    assert.deepEqual(select.round(), ['websocket', 'sse', 'polling']);
    select.connected('polling');
    assert.deepEqual(select.round(), ['polling', 'websocket', 'sse']);
  });

  test('two short-lived connections in a row without a reason pass the transport over', () => {
    const select = new TransportSelector(['websocket', 'sse', 'polling'], 3000);
    assert.equal(select.closed('websocket', 100, false), false);
    assert.equal(select.closed('websocket', 200, false), true);
    assert.deepEqual(select.round(), ['sse', 'polling', 'websocket']);
  });

  test('a long-lived connection in between resets the count', () => {
    const select = new TransportSelector(['websocket', 'sse'], 3000);
    select.closed('websocket', 100, false);
    select.closed('websocket', 60_000, false);
    assert.equal(select.closed('websocket', 100, false), false);
    assert.equal(select.preferred, 'websocket');
  });

  test('a connection the hub ended with a reason never counts against the transport', () => {
    const select = new TransportSelector(['websocket', 'sse'], 3000);
    select.closed('websocket', 10, true);
    select.closed('websocket', 10, true);
    assert.equal(select.preferred, 'websocket');
  });

  test('a single transport is never passed over', () => {
    const select = new TransportSelector(['sse'], 3000);
    select.closed('sse', 1, false);
    select.closed('sse', 1, false);
    assert.deepEqual(select.round(), ['sse']);
  });

  test('fallbacks are the transports after the first', () => {
    const select = new TransportSelector(['websocket', 'sse', 'polling'], 3000);
    assert.equal(select.isFallback('websocket'), false);
    assert.equal(select.isFallback('polling'), true);
  });
});
