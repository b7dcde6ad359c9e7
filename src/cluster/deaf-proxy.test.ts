/**
 * The RESP2 reader of the deaf proxy: it must find value boundaries in a stream cut anywhere, or the proxy would
 * hand a client half a message when it hears again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readResp, type RespValue } from './deaf-proxy.js';

/** Reads every complete value of `buf` in turn; what is left is the incomplete tail. */
function readAll(buf: Buffer): { values: RespValue[]; rest: number } {
  const values: RespValue[] = [];
  let at = 0;
  for (let read = readResp(buf, at); read !== undefined; read = readResp(buf, at)) {
    values.push(read.value);
    at = read.end;
  }
  return { values, rest: buf.length - at };
}

const PAYLOAD = '{"t":"p","e":"é\r\n"}';
const MESSAGE = Buffer.from(`*3\r\n$7\r\nmessage\r\n$11\r\nvc-1:{feed}\r\n$${Buffer.byteLength(PAYLOAD)}\r\n${PAYLOAD}\r\n`);
const STREAM = Buffer.concat([Buffer.from('+OK\r\n:42\r\n$-1\r\n*-1\r\n-ERR no\r\n'), MESSAGE]);

describe('readResp', () => {
  test('reads simple strings, integers, nulls, errors and a Pub/Sub message with CRLF inside its payload', () => {
    assert.deepEqual(readAll(STREAM), {
      values: ['OK', 42, null, null, 'ERR no', ['message', 'vc-1:{feed}', PAYLOAD]],
      rest: 0,
    });
  });

  test('with the stream cut at every byte, reads only whole values and leaves the rest for later', () => {
    const whole = readAll(STREAM).values;
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const head = readAll(STREAM.subarray(0, cut));
      const tail = readAll(STREAM.subarray(cut - head.rest));
      assert.deepEqual([...head.values, ...tail.values], whole, `cut at ${cut}`);
      assert.equal(tail.rest, 0);
    }
  });

  test('refuses a stream that is not RESP2', () => {
    assert.throws(() => readResp(Buffer.from('GET x\r\n'), 0), /not RESP2/);
  });
});
