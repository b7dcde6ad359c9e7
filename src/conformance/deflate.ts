/**
 * permessage-deflate for the conformance suite's raw peers (RFC 7692): a compressor and a decompressor over
 * `node:zlib` raw deflate (the `00 00 ff ff` tail stripped on send, appended on receive), the parsing of
 * `Sec-WebSocket-Extensions`, and a check that a response is a valid answer to an offer (Autobahn 13.x).
 *
 * The decompressor is strict on purpose: it inflates with the window the peer agreed to, and from an empty
 * window for every message when the peer agreed to no context takeover, so a peer that breaks its promise
 * makes inflation fail ("invalid distance too far back") instead of passing unnoticed.
 *
 * @module
 */

import zlib from 'node:zlib';

/** RFC 7692 §7.2.1: the empty stored block every sync flush ends with. */
export const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One side of a compression context. */
export interface DeflateSide {
  /** LZ77 window, 9-15 bits. */
  windowBits: number;
  /** Start from an empty window for every message. */
  noContextTakeover: boolean;
  /** zlib level for compressors. @default 6 */
  level?: number;
}

type ZStream = zlib.DeflateRaw | zlib.InflateRaw;

/** Runs one sync-flushed operation through `stream`: writes `input`, resolves with everything produced. */
function flushThrough(stream: ZStream, input: readonly Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const onData = (chunk: Buffer) => out.push(chunk);
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.on('error', onError);
    for (const part of input) stream.write(part);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      if (stream.destroyed) return; // the error handler settles it
      cleanup();
      resolve(Buffer.concat(out));
    });
  });
}

/** A stream whose late errors (after an operation settled) can never escape to the process. */
function quiet<T extends ZStream>(stream: T): T {
  stream.on('error', () => {});
  return stream;
}

/**
 * Compresses whole messages for one direction. Calls must not overlap (the peers await each one).
 *
 * @example
 * ```ts
 * const deflater = new MessageDeflater({ windowBits: 9, noContextTakeover: true });
 * const payload = await deflater.compress(Buffer.from('hello'));   // RSV1 frame payload
 * ```
 */
export class MessageDeflater {
  private stream: zlib.DeflateRaw | null = null;
  constructor(private readonly side: DeflateSide) {}

  async compress(data: Buffer): Promise<Buffer> {
    const stream = (this.stream ??= quiet(zlib.createDeflateRaw({ windowBits: this.side.windowBits, level: this.side.level ?? 6 })));
    const out = await flushThrough(stream, [data]);
    if (this.side.noContextTakeover) stream.reset();
    // RFC 7692 §7.2.1: remove the 4-octet tail.
    return out.length >= 4 && out.subarray(out.length - 4).equals(SYNC_TAIL) ? out.subarray(0, out.length - 4) : out;
  }

  close(): void {
    this.stream?.close();
    this.stream = null;
  }
}

/**
 * Decompresses whole messages for one direction, with the agreed window and context rules. Each message is
 * inflated in one synchronous call, the window carried over as a preset dictionary when the peer may take over
 * its context. Output goes in 64-byte steps when the window is below 15 bits: zlib only rejects a distance
 * beyond what it holds (window plus the current output step), so small steps make a too-large window visible.
 */
export class MessageInflater {
  private history: Buffer | null = null;
  constructor(private readonly side: DeflateSide) {}

  async decompress(data: Buffer): Promise<Buffer> {
    const { windowBits, noContextTakeover } = this.side;
    const dictionary = noContextTakeover ? null : this.history;
    // RFC 7692 §7.2.2: append the tail, then inflate.
    const out = zlib.inflateRawSync(Buffer.concat([data, SYNC_TAIL]), {
      windowBits,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      chunkSize: windowBits < 15 ? 64 : 16 * 1024,
      ...(dictionary !== null && dictionary.length > 0 ? { dictionary } : {}),
    });
    if (!noContextTakeover) {
      const window = 1 << windowBits;
      const joined = this.history === null ? out : Buffer.concat([this.history, out]);
      this.history = Buffer.from(joined.subarray(Math.max(0, joined.length - window)));
    }
    return out;
  }

  close(): void {
    this.history = null;
  }
}

/** One element of a `Sec-WebSocket-Extensions` list. `true` is a parameter without a value. */
export interface ExtensionElement {
  name: string;
  params: Array<[string, string | true]>;
}

/** Parses a `Sec-WebSocket-Extensions` value leniently (quoted values unquoted). */
export function parseExtensions(header: string | undefined): ExtensionElement[] {
  if (header === undefined || header.trim() === '') return [];
  return header.split(',').map((element) => {
    const [name = '', ...rest] = element.split(';').map((part) => part.trim());
    const params = rest
      .filter((part) => part !== '')
      .map((part): [string, string | true] => {
        const eq = part.indexOf('=');
        if (eq === -1) return [part, true];
        return [part.slice(0, eq).trim(), part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1')];
      });
    return { name, params };
  });
}

/** What a permessage-deflate response agreed to; `null` windows were left at the default (15). */
export interface DeflateAgreement {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | null;
  clientMaxWindowBits: number | null;
}

/** Reads the agreement from an accepted permessage-deflate response element. */
export function agreementOf(element: ExtensionElement): DeflateAgreement {
  const get = (name: string) => element.params.find(([key]) => key === name)?.[1];
  const bits = (value: string | true | undefined) => (typeof value === 'string' ? Number(value) : null);
  return {
    serverNoContextTakeover: get('server_no_context_takeover') !== undefined,
    clientNoContextTakeover: get('client_no_context_takeover') !== undefined,
    serverMaxWindowBits: bits(get('server_max_window_bits')),
    clientMaxWindowBits: bits(get('client_max_window_bits')),
  };
}

const WINDOW = /^(?:[89]|1[0-5])$/;
const KNOWN = ['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'];

/**
 * Why `response` is not a valid acceptance of `offer` under RFC 7692 §7.1 (empty when it is). Checked: the
 * name, known and unique parameters, well-formed values, a requested `server_no_context_takeover` confirmed,
 * `server_max_window_bits` no larger than asked, `client_max_window_bits` only when offered and no larger than
 * the client's limit.
 */
export function responseProblems(offer: ExtensionElement, response: ExtensionElement): string[] {
  const problems: string[] = [];
  if (response.name !== 'permessage-deflate') problems.push(`accepted ${response.name}`);
  const seen = new Set<string>();
  for (const [name, value] of response.params) {
    if (!KNOWN.includes(name)) problems.push(`unknown parameter ${name}`);
    if (seen.has(name)) problems.push(`duplicate parameter ${name}`);
    seen.add(name);
    const takesValue = name.endsWith('_bits');
    if (takesValue && (value === true || !WINDOW.test(value))) problems.push(`bad value for ${name}`);
    if (!takesValue && value !== true) problems.push(`${name} takes no value`);
  }
  const offered = new Map(offer.params);
  const answered = new Map(response.params);
  if (offered.has('server_no_context_takeover') && !answered.has('server_no_context_takeover')) {
    problems.push('server_no_context_takeover was requested but not confirmed');
  }
  const serverAsk = offered.get('server_max_window_bits');
  const serverGot = answered.get('server_max_window_bits');
  if (typeof serverAsk === 'string') {
    if (typeof serverGot !== 'string') problems.push('server_max_window_bits was requested but not confirmed');
    else if (Number(serverGot) > Number(serverAsk)) problems.push(`server_max_window_bits=${serverGot} exceeds ${serverAsk}`);
  }
  const clientOffer = offered.get('client_max_window_bits');
  const clientGot = answered.get('client_max_window_bits');
  if (clientGot !== undefined) {
    if (clientOffer === undefined) problems.push('client_max_window_bits answered but not offered');
    else if (typeof clientOffer === 'string' && typeof clientGot === 'string' && Number(clientGot) > Number(clientOffer)) {
      problems.push(`client_max_window_bits=${clientGot} exceeds ${clientOffer}`);
    }
  }
  return problems;
}
