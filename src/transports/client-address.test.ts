/**
 * The client's address behind proxies: `X-Forwarded-For` believed only as far as trusted proxies wrote it, read
 * from the right; a spoofed header from an untrusted peer ignored; ports, brackets, IPv4-mapped IPv6 and garbage
 * entries handled; bad trust lists refused.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { clientAddressOf, trustedProxies } from './client-address.js';

/** A request from TCP peer `peer` with `X-Forwarded-For: xff` (absent when undefined). */
function request(peer: string, xff?: string): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } } as unknown as IncomingMessage;
}

describe('clientAddressOf', () => {
  it('without trust, is the TCP peer whatever the header says', () => {
    const address = clientAddressOf(false);
    assert.equal(address(request('10.0.0.2', '203.0.113.7')), '10.0.0.2');
    assert.equal(address(request('::ffff:10.0.0.2')), '::ffff:10.0.0.2', 'unchanged, as before trustProxy existed');
    assert.equal(clientAddressOf()(request('10.0.0.2', '203.0.113.7')), '10.0.0.2');
  });

  it('with true, trusts the peer as one proxy hop: the last entry, not a spoofed first one', () => {
    const address = clientAddressOf(true);
    assert.equal(address(request('10.0.0.2', '203.0.113.7')), '203.0.113.7');
    // The client sent "X-Forwarded-For: 1.2.3.4"; the balancer appended the address it saw.
    assert.equal(address(request('10.0.0.2', '1.2.3.4, 203.0.113.7')), '203.0.113.7');
    assert.equal(address(request('10.0.0.2')), '10.0.0.2', 'no header: the peer');
  });

  it('with a list, walks from the right past trusted proxies to the first untrusted address', () => {
    const address = clientAddressOf(['10.0.0.0/8', '192.0.2.1']);
    assert.equal(address(request('10.0.0.2', '1.2.3.4, 203.0.113.7, 192.0.2.1')), '203.0.113.7', 'CDN 192.0.2.1 → balancer 10.0.0.2');
    assert.equal(address(request('10.0.0.2', '10.9.9.9, 10.1.1.1')), '10.9.9.9', 'every hop trusted: the farthest');
  });

  it('ignores the header of a peer that is not a trusted proxy (a spoofed address)', () => {
    const address = clientAddressOf(['10.0.0.0/8']);
    assert.equal(address(request('198.51.100.9', '10.0.0.5')), '198.51.100.9');
    assert.equal(address(request('198.51.100.9', '203.0.113.7')), '198.51.100.9');
  });

  it('reads ports, brackets and IPv4-mapped IPv6, and stops at a malformed entry', () => {
    const address = clientAddressOf(['10.0.0.0/8', 'fd00::/8']);
    assert.equal(address(request('::ffff:10.0.0.2', '203.0.113.7:5123')), '203.0.113.7');
    assert.equal(address(request('fd00::1', '[2001:db8::7]:443')), '2001:db8::7');
    assert.equal(address(request('10.0.0.2', '::ffff:203.0.113.7')), '203.0.113.7');
    assert.equal(address(request('10.0.0.2', 'unknown')), '10.0.0.2', 'the proxy that passed garbage on');
    assert.equal(address(request('10.0.0.2', '203.0.113.7, ')), '10.0.0.2');
  });

  it('refuses a trust list entry that is neither an address nor a CIDR range', () => {
    for (const bad of ['localhost', '10.0.0.0/33', '10.0.0.0/8/1', '10.0.0.0/x', '::1/129', '']) {
      assert.throws(() => trustedProxies([bad]), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' }, bad);
    }
    assert.doesNotThrow(() => trustedProxies(['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8']));
  });
});
