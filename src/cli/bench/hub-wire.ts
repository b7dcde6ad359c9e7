/**
 * The little of the hub protocol (docs/protocol.md, JSON encoding) that `volley bench fanout --volley-hub`
 * speaks: the opening commands, pre-encoded `publish` commands, and the two things it reads from the hub's
 * messages without parsing them as JSON:
 *
 * - the send stamp of a `publication` push. The hub encodes pushes with a fixed field order,
 *   `{"type":"publication","channel":"bench","offset":N,"data":"<stamp>…",…}`, so the stamp sits right after a
 *   fixed prefix, the offset's digits and `,"data":"`: a byte compare, a digit skip and the 8 stamp bytes. A push
 *   that does not match that shape (another field order) is still a delivery; its stamp is then searched for
 *   after `"data":"` in the bytes at hand.
 * - the id and outcome of a reply, from its first bytes (`{"id":N,"result"…` or `{"id":N,"error":{"code":"…"`).
 *
 * @module
 */

import { STAMP_SIZE, decodeStamp } from './stamp.js';
import type { PayloadLayout } from './target.js';

/** The channel every subscriber joins and the publisher publishes to (default namespace). */
export const HUB_CHANNEL = 'bench';
/** The hub's WebSocket path when the URL gives none (`volley serve`'s default). */
export const HUB_PATH = '/ws';
/** Digits of a publish command's id: ids run from 10^9 up, so every frame keeps its length. */
export const PUBLISH_ID_DIGITS = 10;
/** The first publish id (the opening commands use 1 and 2). */
export const FIRST_PUBLISH_ID = 10 ** (PUBLISH_ID_DIGITS - 1);
/** Bytes of a message the reader keeps when it spans reads: enough for a publication's stamp or a reply's head. */
export const HUB_HEAD_SIZE = 128;
/** What {@link publicationStamp} returns for a message that is not a `publication` push. */
export const NOT_PUBLICATION = -2;

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
const PUSH_PREFIX = latin1('{"type":"publication",');
const CHANNEL_PREFIX = latin1(`{"type":"publication","channel":${JSON.stringify(HUB_CHANNEL)},"offset":`);
const DATA_KEY = latin1(',"data":"');
const DATA_SEARCH = latin1('"data":"');

/**
 * The opening commands, each one WebSocket message: `connect`, and with `subscribe` a `subscribe` to
 * {@link HUB_CHANNEL}. The client is ready when the reply to the last one arrives (its id is the count).
 */
export function openingCommands(subscribe: boolean): Buffer[] {
  const commands = [latin1('{"id":1,"type":"connect","name":"volley-bench"}')];
  if (subscribe) commands.push(latin1(`{"id":2,"type":"subscribe","channel":${JSON.stringify(HUB_CHANNEL)}}`));
  return commands;
}

/**
 * A `publish` command whose `data` is the string `body` (the stamp, then ASCII filler: JSON-safe as it is). The id
 * is a placeholder at `idOffset` ({@link PUBLISH_ID_DIGITS} digits); spaces before `"data"` (JSON whitespace) put
 * the stamp at an offset that is a multiple of 4.
 */
export function publishPayload(body: Buffer): PayloadLayout {
  const head = `{"id":${FIRST_PUBLISH_ID},"type":"publish","channel":${JSON.stringify(HUB_CHANNEL)},`;
  const dataKey = '"data":"';
  const pad = (4 - ((head.length + dataKey.length) % 4)) % 4;
  const prefix = latin1(`${head}${' '.repeat(pad)}${dataKey}`);
  return {
    payload: Buffer.concat([prefix, body, latin1('"}')]),
    stampOffset: prefix.length,
    idOffset: '{"id":'.length,
  };
}

/**
 * Writes `id` as {@link PUBLISH_ID_DIGITS} ASCII digits at `out[at]`, masked: digit `j` is XORed with
 * `key[(phase + j) & 3]` (`phase`: the digits' offset in the payload).
 */
export function writeId(id: number, out: Uint8Array, at: number, key: Uint8Array, phase: number): void {
  let v = id;
  for (let j = PUBLISH_ID_DIGITS - 1; j >= 0; j--) {
    const digit = v % 10;
    out[at + j] = (0x30 + digit) ^ key[(phase + j) & 3]!;
    v = (v - digit) / 10;
  }
}

/**
 * Reads an unmasked hub message at `buf[at..at+available)` (`available` may be less than the message when only
 * its head is at hand). Returns {@link NOT_PUBLICATION} when it is not a `publication` push, else the push's
 * send stamp in µs, or -1 when no stamp was found in the bytes at hand.
 */
export function publicationStamp(buf: Uint8Array, at: number, available: number): number {
  const end = at + available;
  if (startsWith(buf, at, available, CHANNEL_PREFIX)) {
    let i = at + CHANNEL_PREFIX.length;
    const digits = i;
    while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    if (i > digits && startsWith(buf, i, end - i, DATA_KEY) && i + DATA_KEY.length + STAMP_SIZE <= end) {
      return decodeStamp(buf, i + DATA_KEY.length, 0);
    }
  } else if (!startsWith(buf, at, available, PUSH_PREFIX)) {
    return NOT_PUBLICATION;
  }
  // A publication of another shape: look for the data string among the bytes at hand.
  const d = Buffer.from(buf.buffer, buf.byteOffset + at, available).indexOf(DATA_SEARCH);
  if (d < 0 || d + DATA_SEARCH.length + STAMP_SIZE > available) return -1;
  return decodeStamp(buf, at + d + DATA_SEARCH.length, 0);
}

function startsWith(buf: Uint8Array, at: number, available: number, prefix: Buffer): boolean {
  if (available < prefix.length) return false;
  for (let j = 0; j < prefix.length; j++) if (buf[at + j] !== prefix[j]) return false;
  return true;
}

/** A reply, as far as its first bytes tell. */
export interface HubReplyHead {
  id: number;
  ok: boolean;
  /** The error code (`""` for a result, or when the head was cut before it). */
  code: string;
}

const REPLY = /^\{"id":(\d+),"(result|error)"(?::\{"code":"([a-z_]*)")?/;

/** Parses the head of a hub message; null when it is not a reply (a push). */
export function parseReplyHead(head: Buffer): HubReplyHead | null {
  const match = REPLY.exec(head.toString('latin1'));
  if (match === null) return null;
  return { id: Number(match[1]), ok: match[2] === 'result', code: match[3] ?? '' };
}
