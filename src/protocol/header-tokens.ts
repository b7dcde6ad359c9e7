/**
 * Hand-written, linear-time tokenizers for the list headers of the opening handshake:
 * `Sec-WebSocket-Protocol` (a list of tokens) and `Sec-WebSocket-Extensions` (RFC 6455 §9.1).
 *
 * Every parser walks its input once with a cursor that only moves forward, so parse time is linear in the header
 * length whatever the input (no regular expression backtracks over attacker-controlled text; see ws
 * CVE-2021-32640 and websocket-extensions CVE-2020-7662). Parsers return `null` on any syntax error instead of
 * throwing: a bad header is the peer's error, answered with 400, never an exception.
 *
 * Grammar (RFC 7230 §3.2.6, §7 and RFC 6455 §9.1):
 *
 * ```text
 * token          = 1*tchar
 * tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
 *                / DIGIT / ALPHA
 * OWS            = *( SP / HTAB )
 * list           = OWS element *( OWS "," OWS element ) OWS       ; empty elements are rejected
 * extension      = token *( OWS ";" OWS param )
 * param          = token [ OWS "=" OWS ( token / quoted-string ) ] ; a quoted value must unquote to a token
 * quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
 * ```
 *
 * @module
 */

import { invalidArgument } from './errors.js';
import type { ExtensionOffer } from './types.js';

const HTAB = 0x09;
const SP = 0x20;
const DQUOTE = 0x22;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/** `TCHAR[c] === 1` when the ASCII code `c` may appear in a token (RFC 7230 §3.2.6). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/**
 * Whether `value` is a non-empty RFC 7230 token: the grammar of subprotocol names, extension names and
 * parameters, and HTTP header field names.
 *
 * @example
 * ```ts
 * isToken('chat.v2'); // true
 * isToken('a b');     // false
 * ```
 */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isTchar(value.charCodeAt(i))) return false;
  }
  return true;
}

/** A forward-only cursor over one header value. Each method consumes what it read. */
class Cursor {
  pos = 0;

  constructor(readonly text: string) {}

  /** Character code at the cursor, or -1 at the end. */
  peek(): number {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  skipOws(): void {
    const { text } = this;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c !== SP && c !== HTAB) return;
      this.pos++;
    }
  }

  /** Reads a token; returns `''` (and does not move) when none starts here. */
  token(): string {
    const { text } = this;
    const start = this.pos;
    while (this.pos < text.length && isTchar(text.charCodeAt(this.pos))) this.pos++;
    return text.slice(start, this.pos);
  }

  /**
   * Reads a quoted-string starting at the opening `"` and returns its unescaped content, or `null` when it is
   * malformed or unterminated. Each character is looked at once.
   */
  quotedString(): string | null {
    const { text } = this;
    let i = this.pos + 1; // past the opening DQUOTE
    let out = '';
    let segment = i;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === DQUOTE) {
        this.pos = i + 1;
        return out + text.slice(segment, i);
      }
      if (c === BACKSLASH) {
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : -1;
        if (!(next === HTAB || (next >= 0x20 && next <= 0x7e) || (next >= 0x80 && next <= 0xff))) return null;
        out += text.slice(segment, i);
        segment = i + 1; // keep the escaped character, drop the backslash
        i += 2;
        continue;
      }
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (DQUOTE and backslash handled above)
      if (!(c === HTAB || (c >= 0x20 && c <= 0x7e) || (c >= 0x80 && c <= 0xff))) return null;
      i++;
    }
    return null; // unterminated
  }
}

/**
 * Parses a `Sec-WebSocket-Protocol` header value: comma-separated RFC 7230 tokens with optional whitespace
 * (SP / HTAB) around the commas.
 *
 * RFC 6455 §4.1 requires the offered names to be non-empty and unique, so an empty element, a duplicate name
 * or any other syntax error yields `null` (the server answers 400). Names are compared case-sensitively.
 *
 * @param value - The header value; repeated headers joined with `", "` (as Node does).
 * @returns The names in order, or `null` when the value is invalid. An empty value is invalid.
 *
 * @example
 * ```ts
 * parseTokenList('chat, superchat'); // ['chat', 'superchat']
 * parseTokenList('chat,,superchat'); // null
 * ```
 */
export function parseTokenList(value: string): string[] | null {
  const cursor = new Cursor(value);
  const names: string[] = [];
  const seen = new Set<string>();
  cursor.skipOws();
  for (;;) {
    const name = cursor.token();
    if (name === '' || seen.has(name)) return null;
    seen.add(name);
    names.push(name);
    cursor.skipOws();
    if (cursor.done) return names;
    if (cursor.peek() !== COMMA) return null;
    cursor.pos++;
    cursor.skipOws();
  }
}

/**
 * Parses a `Sec-WebSocket-Extensions` header value (RFC 6455 §9.1) into extension offers.
 *
 * Parameters are kept as ordered `[name, value]` pairs (`true` when there is no `=value`), duplicates included:
 * judging them is the negotiator's job. Names such as `__proto__` or `constructor` are plain strings here and
 * never become object keys. A quoted value is unescaped and must then be a token, as §9.1 requires.
 *
 * @param value - The header value; repeated headers joined with `", "` (as Node does).
 * @returns The offers in order, or `null` on any syntax error. An empty value is invalid.
 *
 * @example
 * ```ts
 * parseExtensions('permessage-deflate; client_max_window_bits, x-foo');
 * // [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }, { name: 'x-foo', params: [] }]
 * ```
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const cursor = new Cursor(value);
  const offers: ExtensionOffer[] = [];
  cursor.skipOws();
  for (;;) {
    const name = cursor.token();
    if (name === '') return null;
    const params: Array<readonly [string, string | true]> = [];
    cursor.skipOws();
    while (cursor.peek() === SEMICOLON) {
      cursor.pos++;
      cursor.skipOws();
      const param = readParam(cursor);
      if (param === null) return null;
      params.push(param);
    }
    offers.push({ name, params });
    if (cursor.done) return offers;
    if (cursor.peek() !== COMMA) return null;
    cursor.pos++;
    cursor.skipOws();
  }
}

/** Reads `token [ OWS "=" OWS ( token / quoted-string ) ] OWS`; `null` on a syntax error. */
function readParam(cursor: Cursor): readonly [string, string | true] | null {
  const name = cursor.token();
  if (name === '') return null;
  cursor.skipOws();
  if (cursor.peek() !== EQUALS) return [name, true];
  cursor.pos++;
  cursor.skipOws();
  let value: string | null;
  if (cursor.peek() === DQUOTE) {
    value = cursor.quotedString();
    // RFC 6455 §9.1: "the value after quoted-string unescaping MUST conform to the 'token' ABNF".
    if (value === null || !isToken(value)) return null;
  } else {
    value = cursor.token();
    if (value === '') return null;
  }
  cursor.skipOws();
  return [name, value];
}

/**
 * Formats one extension for a `Sec-WebSocket-Extensions` header: `name; param; param=value`. Values are written
 * as bare tokens (§9.1 allows nothing else after unquoting, so quoting is never needed).
 *
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` when the name, a parameter name or a value is not a token.
 *
 * @example
 * ```ts
 * formatExtension('permessage-deflate', [['server_no_context_takeover', true], ['client_max_window_bits', '10']]);
 * // 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10'
 * ```
 */
export function formatExtension(name: string, params: ReadonlyArray<readonly [string, string | true]>): string {
  if (typeof name !== 'string' || !isToken(name)) invalidArgument(`Invalid extension name: ${JSON.stringify(name)}`);
  let out = name;
  for (const [paramName, paramValue] of params) {
    if (typeof paramName !== 'string' || !isToken(paramName)) {
      invalidArgument(`Invalid extension parameter name: ${JSON.stringify(paramName)}`);
    }
    if (paramValue === true) {
      out += `; ${paramName}`;
    } else if (typeof paramValue === 'string' && isToken(paramValue)) {
      out += `; ${paramName}=${paramValue}`;
    } else {
      invalidArgument(`Invalid value for extension parameter ${paramName}: ${JSON.stringify(paramValue)}`);
    }
  }
  return out;
}
