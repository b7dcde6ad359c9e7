/**
 * permessage-deflate (RFC 7692) negotiation, sans-I/O: option validation, the server's choice among the
 * client's offers, the client's offer and its check of the server's response. Compression itself is injected
 * as a `MessageCodec` (see `socket/deflate-codec.ts`); nothing here touches zlib.
 *
 * Peer input never throws: a bad offer is declined (server) and a bad response comes back as a
 * {@link WebSocketError} value (client). Only the caller's own options throw, at construction time.
 *
 * @example
 * ```ts
 * const options = resolveDeflateOptions({ serverNoContextTakeover: true });
 * // server, after parsing Sec-WebSocket-Extensions into ExtensionOffer[]:
 * const agreed = options && negotiateDeflate(offers, options);
 * if (agreed) headers.push(`Sec-WebSocket-Extensions: ${agreed.response}`);
 * ```
 *
 * @module
 */

import { ErrorCode, WebSocketError, invalidArgument } from './errors.js';
import type { DeflateParams, ExtensionOffer } from './types.js';

/** The extension token of RFC 7692 §7. */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/**
 * How this endpoint negotiates and performs permessage-deflate. The same object serves a server and a client:
 * `server*` options always describe the server's compressor and `client*` options the client's.
 */
export interface PerMessageDeflateOptions {
  /**
   * The server resets its compression context after every message. A server sets it to save memory (no
   * window kept between messages); a client sets it to ask the server to do so (the server must agree or
   * decline the offer, RFC 7692 §7.1.1.1).
   * @default false
   */
  serverNoContextTakeover?: boolean;
  /**
   * The client resets its compression context after every message. A server sets it to require it in its
   * response; a client sets it to announce it (and then always resets).
   * @default false
   */
  clientNoContextTakeover?: boolean;
  /**
   * Largest LZ77 window (in bits, 8-15) the server compresses with. A server uses the smaller of this and the
   * client's `server_max_window_bits`; a client below 15 asks the server for it. Lower values save memory
   * (zlib's deflate state is about `2^(bits+2) + 2^(memLevel+9)` bytes) at some cost in ratio.
   *
   * 8 is accepted although zlib cannot build a raw 8-bit compressor: the compressor then runs with 9 bits,
   * and zlib never emits a match farther back than `2^9 - 262 = 250` bytes, so the stream still fits the
   * 256-byte window promised to the peer.
   * @default 15 (the RFC default: nothing is requested, so every peer accepts)
   */
  serverMaxWindowBits?: number;
  /**
   * Largest LZ77 window (in bits, 8-15) the client compresses with. A server below 15 asks for it when the
   * client announced support (`client_max_window_bits` in the offer); a client below 15 announces it as a hint
   * and never compresses with more. 8 behaves as described for {@link serverMaxWindowBits}.
   * @default 15 (the RFC default)
   */
  clientMaxWindowBits?: number;
  /**
   * Messages shorter than this many bytes are sent uncompressed (RSV1 clear). The connection applies it, not
   * the codec. Below about 1 KiB a message already fits one TCP segment (typical MSS 1460), so compressing
   * saves no packet while it still costs a trip through the zlib thread pool and a limiter slot, and deflate's
   * block overhead eats most of the gain on short inputs. Same as `ws`.
   * @default 1024
   */
  threshold?: number;
  /**
   * zlib compression level, 0 (store) to 9 (best).
   * @default 6 (zlib's own default, the usual ratio/CPU balance)
   */
  level?: number;
  /**
   * zlib memory level, 1-9: the size of the compressor's hash table (`2^(memLevel+9)` bytes).
   * @default 8 (zlib's default)
   */
  memLevel?: number;
  /**
   * How many zlib operations may run at once in the whole process (all codecs with the same limit share one
   * queue). Unbounded concurrent zlib work fragments memory badly (Node #8871, ws #1202); 10 is what `ws`
   * chose after that report and keeps the libuv thread pool (4 threads by default) busy without a backlog.
   * A positive integer, or `Infinity` for no cap.
   * @default 10
   */
  concurrencyLimit?: number;
}

/** {@link PerMessageDeflateOptions} with every default filled in and every value checked. */
export interface ResolvedDeflateOptions {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number;
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
  readonly concurrencyLimit: number;
}

/** The defaults of {@link PerMessageDeflateOptions}, frozen. */
export const DEFAULT_DEFLATE_OPTIONS: ResolvedDeflateOptions = Object.freeze({
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  threshold: 1024,
  level: 6,
  memLevel: 8,
  concurrencyLimit: 10,
});

/**
 * Checks the caller's compression options and fills in defaults. `true` means "on, with defaults"; `false`
 * and `undefined` mean "off" and give `null` (the server and the client pick their own default by passing
 * `true` or not).
 *
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` for a value out of range or of the wrong type.
 * @example
 * ```ts
 * resolveDeflateOptions(true);                       // defaults
 * resolveDeflateOptions({ serverMaxWindowBits: 10 }); // smaller server window
 * resolveDeflateOptions({ level: 12 });              // throws VOLLEY_ERR_INVALID_ARGUMENT
 * ```
 */
export function resolveDeflateOptions(
  options: PerMessageDeflateOptions | boolean | undefined,
): ResolvedDeflateOptions | null {
  if (options === undefined || options === false) return null;
  if (options === true) return DEFAULT_DEFLATE_OPTIONS;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    invalidArgument('perMessageDeflate must be a boolean or an options object');
  }
  const d = DEFAULT_DEFLATE_OPTIONS;
  return Object.freeze({
    serverNoContextTakeover: flag(options.serverNoContextTakeover, 'serverNoContextTakeover'),
    clientNoContextTakeover: flag(options.clientNoContextTakeover, 'clientNoContextTakeover'),
    serverMaxWindowBits: integer(options.serverMaxWindowBits, 'serverMaxWindowBits', 8, 15, d.serverMaxWindowBits),
    clientMaxWindowBits: integer(options.clientMaxWindowBits, 'clientMaxWindowBits', 8, 15, d.clientMaxWindowBits),
    threshold: integer(options.threshold, 'threshold', 0, Number.MAX_SAFE_INTEGER, d.threshold),
    level: integer(options.level, 'level', 0, 9, d.level),
    memLevel: integer(options.memLevel, 'memLevel', 1, 9, d.memLevel),
    concurrencyLimit:
      options.concurrencyLimit === Infinity
        ? Infinity
        : integer(options.concurrencyLimit, 'concurrencyLimit', 1, Number.MAX_SAFE_INTEGER, d.concurrencyLimit),
  });
}

/**
 * Server side of the negotiation (RFC 7692 §5, §7.1): accepts the first `permessage-deflate` offer whose
 * parameters are all known, unique and well-formed, adjusted to `options`, and returns the agreed parameters
 * with the `Sec-WebSocket-Extensions` response value. Returns `null` when every offer is declined (the
 * connection then goes on uncompressed). Never throws on the client's input.
 *
 * Offers of other extensions are skipped; the caller negotiates those.
 *
 * @example
 * ```ts
 * negotiateDeflate(
 *   [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
 *   resolveDeflateOptions({ serverNoContextTakeover: true, clientMaxWindowBits: 10 })!,
 * );
 * // → { params: {...}, response: 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10' }
 * ```
 */
export function negotiateDeflate(
  offers: readonly ExtensionOffer[],
  options: ResolvedDeflateOptions,
): { params: DeflateParams; response: string } | null {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    // RFC 7692 §5: "A server MUST decline an extension negotiation offer for this extension if any of the
    // following conditions are met": unknown parameter, duplicate parameter, invalid value.
    const offered = parseParams(offer.params, 'offer');
    if (typeof offered === 'string') continue;
    return acceptOffer(offered, options);
  }
  return null;
}

/**
 * The client's `Sec-WebSocket-Extensions` value. It always carries `client_max_window_bits` (bare, or with our
 * limit below 15) so that the server may choose a smaller client window (RFC 7692 §7.1.2.2).
 *
 * @example
 * ```ts
 * offerDeflate(resolveDeflateOptions(true)!); // 'permessage-deflate; client_max_window_bits'
 * ```
 */
export function offerDeflate(options: ResolvedDeflateOptions): string {
  const parts = [PERMESSAGE_DEFLATE];
  if (options.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (options.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (options.serverMaxWindowBits < 15) parts.push(`server_max_window_bits=${options.serverMaxWindowBits}`);
  const clientBits = options.clientMaxWindowBits;
  parts.push(clientBits < 15 ? `client_max_window_bits=${clientBits}` : 'client_max_window_bits');
  return parts.join('; ');
}

/**
 * Client side: checks the server's `Sec-WebSocket-Extensions` response against the offer made by
 * {@link offerDeflate} with the same `options`. Returns the agreed parameters, `null` when the server accepted
 * no extension, or a `VOLLEY_ERR_HANDSHAKE` error for a response the client must fail the connection on
 * (RFC 6455 §4.1, RFC 7692 §5: another extension, permessage-deflate twice, unknown, duplicate or malformed
 * parameters, a window larger than asked for, or a request we made that was not confirmed). The error has no
 * `closeCode`: the connection is not established yet, so the client just closes the socket. Never throws.
 */
export function acceptDeflateResponse(
  extensions: readonly ExtensionOffer[],
  options: ResolvedDeflateOptions,
): DeflateParams | null | WebSocketError {
  let accepted: ExtensionOffer | undefined;
  for (const extension of extensions) {
    if (extension.name !== PERMESSAGE_DEFLATE) {
      return handshakeError(`the server accepted extension ${quote(extension.name)}, which was not offered`);
    }
    if (accepted) return handshakeError('the server accepted permessage-deflate more than once');
    accepted = extension;
  }
  if (!accepted) return null;

  const response = parseParams(accepted.params, 'response');
  if (typeof response === 'string') return handshakeError(response);

  // §7.1.1.1: a server accepts an offer carrying server_no_context_takeover only by including it.
  if (options.serverNoContextTakeover && !response.serverNoContextTakeover) {
    return handshakeError('the server did not confirm server_no_context_takeover');
  }
  // §7.1.2.1: likewise server_max_window_bits, "with the same or smaller value as the offer".
  if (options.serverMaxWindowBits < 15) {
    if (response.serverMaxWindowBits === undefined) {
      return handshakeError('the server did not confirm server_max_window_bits');
    }
    if (response.serverMaxWindowBits > options.serverMaxWindowBits) {
      return handshakeError(
        `server_max_window_bits=${response.serverMaxWindowBits} exceeds the ${options.serverMaxWindowBits} offered`,
      );
    }
  }
  // §7.1.2.2: client_max_window_bits may come back only if offered (offerDeflate always offers it) and never
  // larger than our hint. Without it we keep to our own limit.
  const clientBits = response.clientMaxWindowBits;
  if (typeof clientBits === 'number' && clientBits > options.clientMaxWindowBits) {
    return handshakeError(`client_max_window_bits=${clientBits} exceeds the ${options.clientMaxWindowBits} offered`);
  }
  return {
    serverNoContextTakeover: response.serverNoContextTakeover,
    // §7.1.1.2: the server may impose it even if not offered; if we announced it we reset anyway.
    clientNoContextTakeover: response.clientNoContextTakeover || options.clientNoContextTakeover,
    serverMaxWindowBits: response.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: typeof clientBits === 'number' ? clientBits : options.clientMaxWindowBits,
  };
}

/** Parameters of one offer or response, each at most once. `true` is a bare `client_max_window_bits`. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | true | undefined;
}

/** §7.1.2: "a decimal integer value without leading zeroes between 8 to 15, inclusive". */
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;

/**
 * Reads the parameters into fixed fields (never an object keyed by the peer's names, so `__proto__` and
 * friends are just unknown names). Returns a reason string when the offer must be declined / the response
 * rejected.
 */
function parseParams(
  params: ExtensionOffer['params'],
  from: 'offer' | 'response',
): ParsedParams | string {
  const parsed: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) return `duplicate parameter ${quote(name)}`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return `parameter ${name} takes no value`;
        if (name === 'server_no_context_takeover') parsed.serverNoContextTakeover = true;
        else parsed.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        if (value === true || !WINDOW_BITS.test(value)) return `invalid value for ${name}`;
        parsed.serverMaxWindowBits = Number(value);
        break;
      case 'client_max_window_bits':
        // §7.1.2.2: in an offer the value is optional ("the client supports it"); a response must give one.
        if (value === true && from === 'offer') parsed.clientMaxWindowBits = true;
        else if (value === true || !WINDOW_BITS.test(value)) return `invalid value for ${name}`;
        else parsed.clientMaxWindowBits = Number(value);
        break;
      default:
        return `unknown parameter ${quote(name)}`;
    }
  }
  return parsed;
}

/** Builds the agreed parameters and the response for an offer that passed {@link parseParams}. */
function acceptOffer(
  offered: ParsedParams,
  options: ResolvedDeflateOptions,
): { params: DeflateParams; response: string } {
  // §7.1.1.1: the server must honour server_no_context_takeover if offered, and may add it.
  const serverNoContextTakeover = offered.serverNoContextTakeover || options.serverNoContextTakeover;
  // §7.1.1.2: the server may include client_no_context_takeover whether offered or not. An offered one is
  // echoed (as ws and python-websockets do): the client volunteered it and it lets us drop the inflate window.
  const clientNoContextTakeover = offered.clientNoContextTakeover || options.clientNoContextTakeover;

  // §7.1.2.1: accept an offered server_max_window_bits "with the same or smaller value"; without one the
  // response may still announce our smaller window.
  const serverMaxWindowBits =
    offered.serverMaxWindowBits === undefined
      ? options.serverMaxWindowBits
      : Math.min(offered.serverMaxWindowBits, options.serverMaxWindowBits);
  const sendServerBits = offered.serverMaxWindowBits !== undefined || serverMaxWindowBits < 15;

  // §7.1.2.2: "If a received extension negotiation offer doesn't have the client_max_window_bits extension
  // parameter, the corresponding extension negotiation response to the offer MUST NOT include" it.
  let clientMaxWindowBits = 15;
  let sendClientBits = false;
  if (offered.clientMaxWindowBits === true) {
    clientMaxWindowBits = options.clientMaxWindowBits;
    sendClientBits = clientMaxWindowBits < 15;
  } else if (offered.clientMaxWindowBits !== undefined) {
    clientMaxWindowBits = Math.min(offered.clientMaxWindowBits, options.clientMaxWindowBits);
    sendClientBits = true;
  }

  const parts = [PERMESSAGE_DEFLATE];
  if (serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (sendServerBits) parts.push(`server_max_window_bits=${serverMaxWindowBits}`);
  if (sendClientBits) parts.push(`client_max_window_bits=${clientMaxWindowBits}`);
  return {
    params: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits },
    response: parts.join('; '),
  };
}

function handshakeError(reason: string): WebSocketError {
  return new WebSocketError(ErrorCode.HANDSHAKE, `Invalid permessage-deflate response: ${reason}`);
}

/** Quotes a peer-supplied name for an error message, cut short so a huge header cannot bloat logs. */
function quote(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

/** A boolean option; every one of them defaults to `false`. */
function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') invalidArgument(`perMessageDeflate.${name} must be a boolean`);
  return value;
}

function integer(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    invalidArgument(`perMessageDeflate.${name} must be an integer ${range}`);
  }
  return value;
}
