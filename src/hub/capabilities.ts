/**
 * Channel capabilities: what a connection may do in which channels, from the `channels` claim of its token
 * (or from a connect hook). The claim maps channel patterns to lists of actions:
 *
 * ```json
 * { "channels": { "chat:*": ["subscribe", "publish", "presence", "history"], "news": ["subscribe"] } }
 * ```
 *
 * Patterns are exact channel names, `*` (every channel), or a prefix ending in `*` whose fixed part contains
 * the namespace separator `:` (`chat:*`, `chat:room-*`), so that a wildcard never reaches into another
 * namespace: `chat:*` matches `chat:room-1` and never `chatx:1`; `chat*` is refused. Matching is a plain
 * prefix comparison, linear in the total length of the patterns; no regular expression is built from a token.
 *
 * User-limited channels (`notifications#alice`, `dm:chat#alice,bob`) are a separate rule, checked with
 * {@link isUserLimitedChannelAllowed}: the users after the last `#` may subscribe, whatever their
 * capabilities say.
 *
 * This module also holds {@link AuthError}, re-exported by `auth.ts`, so that the two modules do not import
 * each other.
 *
 * @module
 */

/** An action a capability grants in a channel. */
export type Capability = 'subscribe' | 'publish' | 'presence' | 'history';

/** Every {@link Capability}, in a stable order. */
export const CAPABILITIES: readonly Capability[] = Object.freeze(['subscribe', 'publish', 'presence', 'history']);

/** Longest accepted pattern, in characters. */
export const MAX_PATTERN_LENGTH = 255;

/** Most patterns one claim may carry (the token's size limit bounds it too). @default 256 */
export const MAX_PATTERNS = 256;

/**
 * Stable codes of {@link AuthError}. `token_*` codes are the client's fault (the hub answers `unauthorized` or
 * `token_expired`); `auth_unavailable` means the keys could not be fetched (the hub answers `unavailable`
 * and the client may retry).
 */
export type AuthErrorCode =
  | 'token_invalid'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_malformed'
  | 'auth_unavailable';

/**
 * Why exactly a token was refused: for logs and metrics only. Clients see {@link AuthError.code} and the
 * fixed message, never this.
 */
export type AuthRejectReason =
  | 'not_a_string'
  | 'too_long'
  | 'malformed'
  | 'alg_not_allowed'
  | 'bad_signature'
  | 'unknown_kid'
  | 'ambiguous_kid'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_sub'
  | 'bad_issuer'
  | 'bad_audience'
  | 'missing_exp'
  | 'bad_claims'
  | 'bad_capabilities'
  | 'jwks_unavailable';

const MESSAGES: Readonly<Record<AuthErrorCode, string>> = {
  token_invalid: 'invalid token',
  token_expired: 'token expired',
  token_not_yet_valid: 'token not yet valid',
  token_malformed: 'malformed token',
  auth_unavailable: 'token verification unavailable',
};

/**
 * A refused token. `message` is fixed per `code` and safe to send to the client; `reason` and `cause` are for
 * the server's logs only (they may name claims or key ids).
 */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;
  readonly reason: AuthRejectReason;

  constructor(code: AuthErrorCode, reason: AuthRejectReason, options?: { cause?: unknown }) {
    super(MESSAGES[code], options);
    this.code = code;
    this.reason = reason;
  }
}

/** One pattern and the actions it grants. */
export interface CapabilityGrant {
  readonly pattern: string;
  readonly actions: readonly Capability[];
}

const BIT: Readonly<Record<Capability, number>> = { subscribe: 1, publish: 2, presence: 4, history: 8 };

function bitOf(action: unknown): number {
  return typeof action === 'string' && Object.hasOwn(BIT, action) ? BIT[action as Capability] : 0;
}

/** Why `pattern` is not a valid pattern, or `undefined` when it is. */
function patternProblem(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string') return 'a pattern must be a string';
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) return `a pattern has 1 to ${MAX_PATTERN_LENGTH} characters`;
  let colon = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return 'a pattern has visible ASCII characters only';
    if (c === 0x2a /* * */ && i !== pattern.length - 1) return '`*` may only end a pattern';
    if (c === 0x3a /* : */) colon = true;
  }
  if (pattern.length > 1 && pattern.endsWith('*') && !colon) {
    return 'a wildcard pattern other than `*` must fix the namespace (`ns:*`)';
  }
  return undefined;
}

/**
 * What a connection may do, per channel. Immutable. Build one with {@link parseCapabilities} (from a token
 * claim) or with `new Capabilities(grants)` (from trusted server code; throws `TypeError` on a bad grant).
 *
 * @example
 * ```ts
 * const caps = new Capabilities([{ pattern: 'chat:*', actions: ['subscribe', 'publish'] }]);
 * allows(caps, 'chat:room-1', 'publish'); // true
 * allows(caps, 'chatx:1', 'subscribe');   // false
 * ```
 */
export class Capabilities {
  /** No capability in any channel. */
  static readonly NONE = new Capabilities([]);

  readonly #exact = new Map<string, number>();
  readonly #prefixes: Array<{ readonly prefix: string; mask: number }> = [];
  #everything = 0;
  readonly #grants: readonly CapabilityGrant[];

  constructor(grants: readonly CapabilityGrant[]) {
    if (!Array.isArray(grants)) throw new TypeError('grants must be an array');
    if (grants.length > MAX_PATTERNS) throw new TypeError(`at most ${MAX_PATTERNS} patterns`);
    const kept: CapabilityGrant[] = [];
    for (const grant of grants) {
      const problem = grantProblem(grant);
      if (problem !== undefined) throw new TypeError(problem);
      let mask = 0;
      for (const action of grant.actions) mask |= bitOf(action);
      this.#add(grant.pattern, mask);
      kept.push(Object.freeze({ pattern: grant.pattern, actions: Object.freeze(CAPABILITIES.filter((a) => (mask & BIT[a]) !== 0)) }));
    }
    this.#grants = Object.freeze(kept);
    Object.freeze(this);
  }

  #add(pattern: string, mask: number): void {
    if (pattern === '*') {
      this.#everything |= mask;
    } else if (pattern.endsWith('*')) {
      const prefix = pattern.slice(0, -1);
      const existing = this.#prefixes.find((p) => p.prefix === prefix);
      if (existing) existing.mask |= mask;
      else this.#prefixes.push({ prefix, mask });
    } else {
      this.#exact.set(pattern, (this.#exact.get(pattern) ?? 0) | mask);
    }
  }

  /** The grants, in the order given, with duplicate actions removed. */
  get grants(): readonly CapabilityGrant[] {
    return this.#grants;
  }

  /** Whether no pattern grants anything. */
  get isEmpty(): boolean {
    if (this.#everything !== 0) return false;
    for (const mask of this.#exact.values()) if (mask !== 0) return false;
    return this.#prefixes.every((p) => p.mask === 0);
  }

  /** Whether `action` is allowed in `channel`. See {@link allows}. */
  allows(channel: string, action: Capability): boolean {
    const bit = bitOf(action);
    if (bit === 0) throw new TypeError(`unknown capability: ${String(action)}`);
    if (typeof channel !== 'string' || channel.length === 0) return false;
    if ((this.#everything & bit) !== 0) return true;
    if (((this.#exact.get(channel) ?? 0) & bit) !== 0) return true;
    for (const { prefix, mask } of this.#prefixes) {
      // `*` stands for one character or more: `chat:*` does not match `chat:` itself.
      if ((mask & bit) !== 0 && channel.length > prefix.length && channel.startsWith(prefix)) return true;
    }
    return false;
  }

  /** The claim form (`{ pattern: actions }`), for re-issuing a token or logging. */
  toJSON(): Record<string, Capability[]> {
    const claim: Record<string, Capability[]> = Object.create(null);
    for (const { pattern, actions } of this.#grants) {
      const merged = new Set<Capability>([...(claim[pattern] ?? []), ...actions]);
      claim[pattern] = CAPABILITIES.filter((a) => merged.has(a));
    }
    return claim;
  }
}

function grantProblem(grant: CapabilityGrant): string | undefined {
  if (typeof grant !== 'object' || grant === null) return 'a grant must be an object';
  const problem = patternProblem(grant.pattern);
  if (problem !== undefined) return `${problem}: ${JSON.stringify(String(grant.pattern).slice(0, 64))}`;
  if (!Array.isArray(grant.actions)) return 'actions must be an array';
  if (grant.actions.length > 16) return 'at most 16 actions per pattern';
  for (const action of grant.actions) {
    if (bitOf(action) === 0) return `unknown capability: ${JSON.stringify(String(action).slice(0, 32))}`;
  }
  return undefined;
}

/**
 * Parses a `channels` claim strictly. `undefined` (no claim) gives {@link Capabilities.NONE}. Anything else
 * must be a plain object whose keys are valid patterns and whose values are arrays of capability names;
 * otherwise it throws {@link AuthError} `token_invalid` (reason `bad_capabilities`). Keys are read as own
 * properties into a `Map`, so a key named `__proto__` is just a channel name.
 *
 * @example
 * ```ts
 * const caps = parseCapabilities({ 'chat:*': ['subscribe', 'publish'], news: ['subscribe'] });
 * ```
 */
export function parseCapabilities(claim: unknown): Capabilities {
  if (claim === undefined) return Capabilities.NONE;
  const bad = (): AuthError => new AuthError('token_invalid', 'bad_capabilities');
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) throw bad();
  const proto: unknown = Object.getPrototypeOf(claim);
  if (proto !== Object.prototype && proto !== null) throw bad();
  const keys = Object.keys(claim);
  if (keys.length > MAX_PATTERNS) throw bad();
  const grants: CapabilityGrant[] = [];
  for (const pattern of keys) {
    const actions: unknown = (claim as Record<string, unknown>)[pattern];
    const grant = { pattern, actions } as CapabilityGrant;
    if (grantProblem(grant) !== undefined) throw bad();
    grants.push(grant);
  }
  return new Capabilities(grants);
}

/**
 * Whether `caps` allow `action` in `channel`: through `*`, an exact name, or a `ns:…*` prefix that `channel`
 * extends by at least one character. Throws `TypeError` for an unknown action (a caller's bug).
 */
export function allows(caps: Capabilities, channel: string, action: Capability): boolean {
  return caps.allows(channel, action);
}

/** Whether `channel` names its allowed users after a `#` (Centrifugo's user boundary). */
export function isUserLimitedChannel(channel: string): boolean {
  return typeof channel === 'string' && channel.includes('#');
}

/**
 * Whether `userId` is one of the users a user-limited channel names: the comma-separated list after the last
 * `#` (`notifications#alice`, `dm#alice,bob`). False for channels without `#`, for anonymous connections
 * (`userId` empty), and for user ids that contain `,` or `#` (they cannot be listed unambiguously).
 *
 * @example
 * ```ts
 * isUserLimitedChannelAllowed('dm:chat#alice,bob', 'bob');   // true
 * isUserLimitedChannelAllowed('dm:chat#alice,bob', 'carol'); // false
 * ```
 */
export function isUserLimitedChannelAllowed(channel: string, userId: string): boolean {
  if (typeof channel !== 'string' || typeof userId !== 'string' || userId.length === 0) return false;
  if (userId.includes(',') || userId.includes('#')) return false;
  const boundary = channel.lastIndexOf('#');
  if (boundary < 0) return false;
  let start = boundary + 1;
  while (start <= channel.length) {
    let end = channel.indexOf(',', start);
    if (end < 0) end = channel.length;
    if (end - start === userId.length && channel.startsWith(userId, start)) return true;
    start = end + 1;
  }
  return false;
}
