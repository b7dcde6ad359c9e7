import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import zlib from 'node:zlib';

import { ErrorCode, WebSocketError } from '../protocol/errors.js';
import { DEFAULT_DEFLATE_OPTIONS, type ResolvedDeflateOptions } from '../protocol/permessage-deflate.js';
import type { DeflateParams, MessageCodec, Role } from '../protocol/types.js';
import { ZlibLimiter, createDeflateCodec, sharedZlibLimiter } from './deflate-codec.js';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const KiB = 1024;
const MiB = 1024 * KiB;

function params(overrides: Partial<DeflateParams> = {}): DeflateParams {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...overrides,
  };
}

function options(overrides: Partial<ResolvedDeflateOptions> = {}): ResolvedDeflateOptions {
  return { ...DEFAULT_DEFLATE_OPTIONS, ...overrides };
}

function compress(codec: MessageCodec, data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    codec.compress(data, (error, out) => (error ? reject(error) : resolve(Buffer.from(out!))));
  });
}

function decompress(codec: MessageCodec, data: Uint8Array, fin = true, limit = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    codec.decompress(data, fin, limit, (error, out) => (error ? reject(error) : resolve(Buffer.from(out!))));
  });
}

/** A server codec and the matching client codec, closed after each test. */
const open: MessageCodec[] = [];
function pair(agreed = params(), extra: Partial<ResolvedDeflateOptions> = {}): Record<Role, MessageCodec> {
  const server = createDeflateCodec(agreed, 'server', options(extra));
  const client = createDeflateCodec(agreed, 'client', options(extra));
  open.push(server, client);
  return { server, client };
}
afterEach(() => {
  for (const codec of open.splice(0)) codec.close();
});

/** Records every raw zlib stream written to while tracking is on (the codec writes to each one it creates). */
function trackStreams(): { streams: Array<zlib.InflateRaw | zlib.DeflateRaw>; restore(): void } {
  const streams = new Set<zlib.InflateRaw | zlib.DeflateRaw>();
  const prototypes = [zlib.createInflateRaw(), zlib.createDeflateRaw()].map((probe) => {
    probe.close();
    return Object.getPrototypeOf(probe) as { write(...args: unknown[]): boolean };
  });
  for (const proto of prototypes) {
    const inherited = proto.write;
    proto.write = function (this: zlib.InflateRaw | zlib.DeflateRaw, ...args: unknown[]) {
      streams.add(this);
      return inherited.apply(this, args);
    };
  }
  return {
    get streams() {
      return [...streams];
    },
    restore() {
      for (const proto of prototypes) delete (proto as Partial<typeof proto>).write;
    },
  };
}

/** Counts every byte any raw inflater pushes out, to prove inflation stopped. */
function countInflatedBytes(): { bytes(): number; restore(): void } {
  const probe = zlib.createInflateRaw();
  const proto = Object.getPrototypeOf(probe) as { push(chunk: Buffer | null): boolean };
  probe.close();
  const original = proto.push;
  let bytes = 0;
  proto.push = function (this: unknown, chunk: Buffer | null) {
    if (chunk) bytes += chunk.length;
    return original.call(this, chunk);
  };
  return {
    bytes: () => bytes,
    restore: () => {
      delete (proto as Partial<typeof proto>).push;
    },
  };
}

function isError(code: string, closeCode?: number): (error: unknown) => boolean {
  return (error) => error instanceof WebSocketError && error.code === code && error.closeCode === closeCode;
}

const tooBig = isError(ErrorCode.PAYLOAD_TOO_BIG, 1009);
const inflateFailed = isError(ErrorCode.INFLATE_FAILED, 1007);

const text = Buffer.from(
  JSON.stringify(
    Array.from({ length: 40 }, (_, i) => ({ id: i, channel: 'chat:room-1', user: `user-${i % 7}`, text: 'hello' })),
  ),
);

/** Data whose repeats are `distance` bytes apart, so a window smaller than that cannot exploit them. */
function repeating(distance: number, copies: number): Buffer {
  const block = randomBytes(distance);
  return Buffer.concat(Array.from({ length: copies }, () => block));
}

describe('round trips', () => {
  for (const role of ['server', 'client'] as const) {
    test(`a ${role} message decompresses on the other side to the same bytes`, async () => {
      const { server, client } = pair();
      const [sender, receiver] = role === 'server' ? [server, client] : [client, server];
      const wire = await compress(sender, text);
      assert.ok(wire.length < text.length / 3);
      assert.notDeepEqual(wire.subarray(-4), TAIL);
      assert.deepEqual(await decompress(receiver, wire), text);
    });
  }

  test('with context takeover the second identical message compresses much smaller', async () => {
    const { server, client } = pair();
    const first = await compress(server, text);
    const second = await compress(server, text);
    assert.ok(second.length < first.length / 4, `${second.length} vs ${first.length}`);
    assert.deepEqual(await decompress(client, first), text);
    assert.deepEqual(await decompress(client, second), text);
  });

  for (const role of ['server', 'client'] as const) {
    test(`with ${role}_no_context_takeover every ${role} message compresses alone`, async () => {
      const agreed = params(role === 'server' ? { serverNoContextTakeover: true } : { clientNoContextTakeover: true });
      const { server, client } = pair(agreed);
      const [sender, receiver] = role === 'server' ? [server, client] : [client, server];
      const first = await compress(sender, text);
      const second = await compress(sender, text);
      assert.deepEqual(second, first);
      // Each message stands alone: plain zlib with a fresh context inflates it.
      const syncFlush = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
      assert.deepEqual(zlib.inflateRawSync(Buffer.concat([second, TAIL]), syncFlush), text);
      assert.deepEqual(await decompress(receiver, first), text);
      assert.deepEqual(await decompress(receiver, second), text);
      // The other direction keeps its context.
      const [back, forth] = [await compress(receiver, text), await compress(receiver, text)];
      assert.ok(forth.length < back.length / 4);
    });
  }

  test('an empty message compresses to a single 0x00 byte and back (RFC 7692 §7.2.3.6)', async () => {
    const { server, client } = pair();
    const wire = await compress(server, new Uint8Array(0));
    assert.deepEqual(wire, Buffer.from([0x00]));
    assert.equal((await decompress(client, wire)).length, 0);
    assert.deepEqual(await decompress(client, await compress(server, text)), text);
  });

  for (let bits = 8; bits <= 15; bits++) {
    test(`window bits ${bits} round trip and fit a peer inflating with exactly ${bits} bits`, async () => {
      const { server, client } = pair(params({ serverMaxWindowBits: bits, clientMaxWindowBits: bits }));
      const message = Buffer.concat([repeating(200, 30), repeating(3000, 5), text]);
      for (const [sender, receiver] of [
        [server, client],
        [client, server],
      ] as const) {
        for (let i = 0; i < 3; i++) {
          const wire = await compress(sender, message);
          assert.deepEqual(await decompress(receiver, wire), message);
        }
      }
      // A 64-byte output buffer makes zlib check each distance against the window it was given, so this
      // fails on any match farther back than 2^bits. For 8 bits the compressor runs with 9 (zlib refuses 8)
      // and must still stay within 256 bytes.
      const fresh = params({ serverMaxWindowBits: bits, serverNoContextTakeover: true });
      const alone = createDeflateCodec(fresh, 'server', options());
      open.push(alone);
      const wire = await compress(alone, message);
      assert.deepEqual(
        zlib.inflateRawSync(Buffer.concat([wire, TAIL]), {
          windowBits: bits,
          chunkSize: 64,
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
        }),
        message,
      );
    });
  }

  test('a smaller window really limits the distance zlib reaches back', async () => {
    const message = repeating(4000, 8);
    const small = createDeflateCodec(params({ serverMaxWindowBits: 10 }), 'server', options());
    const large = createDeflateCodec(params({ serverMaxWindowBits: 15 }), 'server', options());
    open.push(small, large);
    const [smallWire, largeWire] = [await compress(small, message), await compress(large, message)];
    assert.ok(largeWire.length < smallWire.length / 4, `${largeWire.length} vs ${smallWire.length}`);
  });
});

describe('interop with plain zlib', () => {
  test('inflates a sync-flushed zlib.deflateRawSync message with its tail stripped', async () => {
    const raw = zlib.deflateRawSync(text, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.deepEqual(raw.subarray(-4), TAIL);
    const { client } = pair();
    assert.deepEqual(await decompress(client, raw.subarray(0, -4)), text);
  });

  test('inflates a finished (BFINAL) zlib.deflateRawSync message and the messages after it', async () => {
    const { client } = pair();
    assert.deepEqual(await decompress(client, zlib.deflateRawSync(text)), text);
    assert.deepEqual(await decompress(client, zlib.deflateRawSync(Buffer.from('second'))), Buffer.from('second'));
  });

  test('produces messages that plain zlib inflates once the tail is put back', async () => {
    const { server } = pair();
    const inflater = zlib.createInflateRaw();
    const chunks: Buffer[] = [];
    inflater.on('data', (chunk: Buffer) => chunks.push(chunk));
    for (let i = 0; i < 3; i++) {
      const wire = await compress(server, text);
      await new Promise<void>((resolve) => {
        inflater.write(Buffer.concat([wire, TAIL]));
        inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
      });
      assert.deepEqual(Buffer.concat(chunks.splice(0)), text);
    }
    inflater.close();
  });
});

describe('fragmented messages', () => {
  test('decompressing frame by frame (fin=false, then fin=true) gives the whole message', async () => {
    const message = Buffer.concat([text, repeating(1000, 20), text]);
    const { server, client } = pair();
    for (const pieces of [2, 3, 10, 64]) {
      const wire = await compress(server, message);
      const size = Math.ceil(wire.length / pieces);
      const out: Buffer[] = [];
      for (let at = 0; at < wire.length; at += size) {
        const end = Math.min(at + size, wire.length);
        out.push(await decompress(client, wire.subarray(at, end), end === wire.length));
      }
      assert.deepEqual(Buffer.concat(out), message, `${pieces} pieces`);
    }
  });

  test('a frame may carry no data at all, including the last one', async () => {
    const { server, client } = pair();
    const wire = await compress(server, text);
    const out = [
      await decompress(client, new Uint8Array(0), false),
      await decompress(client, wire, false),
      await decompress(client, new Uint8Array(0), true),
    ];
    assert.deepEqual(Buffer.concat(out), text);
  });
});

describe('the decompressed size limit (reliability.md C1)', () => {
  const limit = 64 * KiB;
  const bomb = zlib.deflateRawSync(Buffer.alloc(8 * MiB, 'A'), {
    level: 9,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  }).subarray(0, -4);

  test('the bomb is 8 MiB of "A" in about 8 KB', () => {
    assert.ok(bomb.length < 10 * KiB, `${bomb.length} bytes`);
  });

  test('fails an 8 MiB bomb with 1009 after inflating no more than the limit plus one zlib chunk', async () => {
    const counter = countInflatedBytes();
    const tracker = trackStreams();
    try {
      const { client } = pair();
      const before = process.memoryUsage().arrayBuffers;
      const started = performance.now();
      await assert.rejects(decompress(client, bomb, true, limit), tooBig);
      const elapsed = performance.now() - started;
      const grown = process.memoryUsage().arrayBuffers - before;
      assert.ok(counter.bytes() <= limit + 16 * KiB, `inflated ${counter.bytes()} bytes`);
      assert.ok(grown < limit + 256 * KiB, `array buffers grew by ${grown} bytes`);
      assert.ok(elapsed < 1000, `${elapsed} ms`);
      // The inflater was closed, so zlib spends no more CPU on the rest.
      assert.equal(tracker.streams.length, 1);
      assert.ok(tracker.streams[0]!.destroyed);
    } finally {
      counter.restore();
      tracker.restore();
    }
  });

  test('fails the bomb sent as 10 fragments with 1009 at the fragment that crosses the limit', async () => {
    const counter = countInflatedBytes();
    try {
      const { client } = pair();
      const size = Math.ceil(bomb.length / 10);
      let remaining = limit;
      let failedAt = -1;
      for (let i = 0; i * size < bomb.length; i++) {
        const fragment = bomb.subarray(i * size, (i + 1) * size);
        try {
          const out = await decompress(client, fragment, (i + 1) * size >= bomb.length, remaining);
          remaining -= out.length;
        } catch (error) {
          assert.ok(tooBig(error));
          failedAt = i;
          break;
        }
      }
      assert.equal(failedAt, 0, 'the first fragment alone inflates to about 800 KiB');
      assert.ok(counter.bytes() <= limit + 16 * KiB, `inflated ${counter.bytes()} bytes`);
    } finally {
      counter.restore();
    }
  });

  for (const [label, message] of [
    ['a small', Buffer.alloc(limit, 'A')],
    ['a large (over 2 KiB compressed)', randomBytes(limit)],
  ] as const) {
    test(`delivers ${label} message of exactly the limit intact`, async () => {
      const { server, client } = pair();
      const wire = await compress(server, message);
      const out = await decompress(client, wire, true, limit);
      assert.equal(createHash('sha1').update(out).digest('hex'), createHash('sha1').update(message).digest('hex'));
    });

    test(`fails ${label} message of the limit plus one byte with 1009, never truncating it`, async () => {
      const { server, client } = pair();
      const wire = await compress(server, Buffer.concat([message, Buffer.from('!')]));
      if (label.startsWith('a large')) assert.ok(wire.length > 2 * KiB);
      await assert.rejects(decompress(client, wire, true, limit), tooBig);
    });
  }

  test('counts the limit per call, so fragments each within it pass', async () => {
    const message = Buffer.alloc(3 * KiB, 'B');
    const { server, client } = pair();
    const wire = await compress(server, message);
    const first = await decompress(client, wire.subarray(0, 5), false, KiB);
    const rest = await decompress(client, wire.subarray(5), true, 3 * KiB);
    assert.deepEqual(Buffer.concat([first, rest]), message);
  });
});

describe('corrupt input', () => {
  test('fails with 1007 on data that is not deflate', async () => {
    const { client } = pair();
    await assert.rejects(decompress(client, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00])), inflateFailed);
  });

  test('fails with 1007 and delivers nothing when good data turns bad', async () => {
    const { server, client } = pair();
    const good = await compress(server, Buffer.alloc(100 * KiB, 'x'));
    await assert.rejects(decompress(client, Buffer.concat([good, Buffer.from([0xfe, 0xff, 0x12])])), inflateFailed);
  });

  test('fails with 1007 on a distance beyond the negotiated window', async () => {
    const message = repeating(3000, 4);
    const wire = zlib.deflateRawSync(message, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const client = createDeflateCodec(params({ serverMaxWindowBits: 9 }), 'client', options());
    open.push(client);
    // Split so that zlib has to look back into its 512-byte window rather than into its output buffer.
    let failed = false;
    try {
      for (let at = 0; at < wire.length; at += 64) {
        await decompress(client, wire.subarray(at, at + 64), at + 64 >= wire.length);
      }
    } catch (error) {
      assert.ok(inflateFailed(error));
      failed = true;
    }
    assert.ok(failed);
  });

  test('a codec whose inflater failed starts a fresh one for the next call', async () => {
    const { server, client } = pair(params({ serverNoContextTakeover: true }));
    await assert.rejects(decompress(client, Buffer.from([0xff, 0xff, 0xff])), inflateFailed);
    assert.deepEqual(await decompress(client, await compress(server, text)), text);
  });
});

describe('close()', () => {
  test('during a pending decompress and compress, no callback ever fires and both streams are released', async () => {
    const tracker = trackStreams();
    try {
      const { server } = pair();
      const seed = zlib.deflateRawSync(randomBytes(MiB));
      let called = 0;
      server.decompress(seed, true, Infinity, () => called++);
      server.compress(randomBytes(2 * MiB), () => called++);
      server.close();
      server.close(); // idempotent
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(called, 0);
      assert.equal(tracker.streams.length, 2);
      for (const stream of tracker.streams) assert.ok(stream.destroyed);
    } finally {
      tracker.restore();
    }
  });

  test('drops queued work and frees its limiter slots', async () => {
    const limiter = sharedZlibLimiter(1);
    const busy = createDeflateCodec(params(), 'server', options({ concurrencyLimit: 1 }));
    const doomed = createDeflateCodec(params(), 'server', options({ concurrencyLimit: 1 }));
    open.push(busy);
    const busyDone = compress(busy, randomBytes(MiB));
    let called = 0;
    for (let i = 0; i < 5; i++) doomed.compress(text, () => called++);
    assert.equal(limiter.queued, 5);
    doomed.close();
    assert.equal(limiter.queued, 0);
    await busyDone;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(called, 0);
    assert.equal(limiter.running, 0);
  });

  test('ignores calls made after close', async () => {
    const { server } = pair();
    server.close();
    let called = 0;
    server.compress(text, () => called++);
    server.decompress(text, true, Infinity, () => called++);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(called, 0);
  });

  test('closing after 1000 codecs each compressed leaves no zlib stream open', async () => {
    const tracker = trackStreams();
    try {
      const codecs = Array.from({ length: 1000 }, () => createDeflateCodec(params(), 'server', options()));
      await Promise.all(codecs.map((codec) => compress(codec, text)));
      for (const codec of codecs) codec.close();
      assert.equal(tracker.streams.length, 1000);
      assert.ok(tracker.streams.every((stream) => stream.destroyed));
      assert.equal(sharedZlibLimiter(DEFAULT_DEFLATE_OPTIONS.concurrencyLimit).running, 0);
    } finally {
      tracker.restore();
    }
  });
});

describe('the concurrency limit', () => {
  test('runs at most N jobs at once, in order, and all of them', async () => {
    const limiter = new ZlibLimiter(3);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<void>((resolve) => {
            limiter.add({}, (release) => {
              order.push(i);
              running++;
              peak = Math.max(peak, running);
              setTimeout(() => {
                running--;
                release();
                resolve();
              }, 1 + (i % 3));
            });
          }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
    assert.equal(limiter.running, 0);
    assert.equal(limiter.queued, 0);
  });

  test('ignores a second release of the same job', () => {
    const limiter = new ZlibLimiter(1);
    let started = 0;
    limiter.add({}, (release) => {
      started++;
      release();
      release();
    });
    limiter.add({}, () => started++);
    limiter.add({}, () => started++);
    assert.equal(started, 2);
    assert.equal(limiter.running, 1);
  });

  test('drains 100 000 synchronously released jobs without deep recursion', () => {
    const limiter = new ZlibLimiter(1);
    let release!: () => void;
    limiter.add({}, (r) => (release = r)); // holds the only slot while the queue fills
    let ran = 0;
    for (let i = 0; i < 100_000; i++) limiter.add({}, (r) => (ran++, r()));
    assert.equal(limiter.queued, 100_000);
    release();
    assert.equal(ran, 100_000);
    assert.equal(limiter.running, 0);
  });

  test('rejects a concurrency that is not a positive integer', () => {
    assert.throws(() => new ZlibLimiter(0), isError(ErrorCode.INVALID_ARGUMENT));
    assert.throws(() => new ZlibLimiter(1.5));
  });

  test('is shared by every codec with the same limit, which never run more than that at once', async () => {
    const limit = 3;
    const limiter = sharedZlibLimiter(limit);
    assert.equal(sharedZlibLimiter(limit), limiter);
    const codecs = Array.from({ length: 40 }, () =>
      createDeflateCodec(params(), 'server', options({ concurrencyLimit: limit })),
    );
    open.push(...codecs);
    let peak = 0;
    let sampling = true;
    const sample = (): void => {
      peak = Math.max(peak, limiter.running);
      if (sampling) setImmediate(sample);
    };
    sample();
    const work = codecs.map(async (codec) => {
      await compress(codec, randomBytes(64 * KiB));
      peak = Math.max(peak, limiter.running);
    });
    assert.equal(limiter.running, limit);
    assert.equal(limiter.queued, codecs.length - limit);
    await Promise.all(work);
    sampling = false;
    assert.equal(peak, limit);
    assert.equal(limiter.running, 0);
  });
});

describe('createDeflateCodec', () => {
  test('rejects window bits outside 8-15 and an unknown role', () => {
    const invalidArgument = isError(ErrorCode.INVALID_ARGUMENT);
    assert.throws(() => createDeflateCodec(params({ serverMaxWindowBits: 7 }), 'server', options()), invalidArgument);
    assert.throws(() => createDeflateCodec(params({ clientMaxWindowBits: 16 }), 'client', options()));
    assert.throws(() => createDeflateCodec(params(), 'peer' as 'server', options()));
  });
});
