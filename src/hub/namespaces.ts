/**
 * Channel namespaces: `chat:room-1` belongs to namespace `chat`, `lobby` to the default namespace `''`. Each
 * namespace sets history, presence and who may do what.
 *
 * @module
 */

import { invalidArgument } from '../protocol/errors.js';

/**
 * Who may do something in a namespace, besides clients whose token grants it explicitly (a token capability
 * always allows):
 * - `anyone`: every connected client, anonymous ones included;
 * - `authenticated`: clients with a verified token;
 * - `capability`: only clients whose token's `channels` claim grants it;
 * - `nobody`: no client (the server and the HTTP API still may).
 */
export type Permission = 'anyone' | 'authenticated' | 'capability' | 'nobody';

/** Settings of one namespace. */
export interface NamespaceOptions {
  /**
   * Publications kept per channel for history and recovery; 0 turns history (and recovery) off.
   * @default 100
   */
  historySize: number;
  /**
   * How long publications are kept, in ms.
   * @default 600000 (10 minutes: enough to recover from a network change or a deploy)
   */
  historyTtlMs: number;
  /**
   * Track who is subscribed.
   * @default false
   */
  presence: boolean;
  /**
   * Push `join`/`leave` to subscribers (needs `presence`).
   * @default false
   */
  joinLeave: boolean;
  /**
   * Presence queries return counts only, never the member list (for large channels).
   * @default false
   */
  countsOnly: boolean;
  /** Who may subscribe. @default 'authenticated' */
  subscribe: Permission;
  /** Who may publish from a client connection. @default 'capability' */
  publish: Permission;
  /** Who may read history. @default 'authenticated' */
  history: Permission;
  /** Who may query presence. @default 'authenticated' */
  presenceQuery: Permission;
  /**
   * Most subscribers per channel on one node; 0 is unlimited.
   * @default 0
   */
  maxSubscribers: number;
}

/** The defaults of {@link NamespaceOptions}. */
export const DEFAULT_NAMESPACE: Readonly<NamespaceOptions> = Object.freeze({
  historySize: 100,
  historyTtlMs: 600_000,
  presence: false,
  joinLeave: false,
  countsOnly: false,
  subscribe: 'authenticated',
  publish: 'capability',
  history: 'authenticated',
  presenceQuery: 'authenticated',
  maxSubscribers: 0,
});

/** Namespace settings: the default namespace, named ones, and what to do with unknown ones. */
export interface NamespacesConfig {
  /** Settings of the default namespace `''` (and of unknown namespaces unless `strict`). */
  default?: Partial<NamespaceOptions>;
  /** Named namespaces; unspecified fields come from `default`. */
  namespaces?: Readonly<Record<string, Partial<NamespaceOptions>>>;
  /**
   * Refuse channels in namespaces that are not configured (`not_found`). Off: they use the default namespace.
   * @default false
   */
  strict?: boolean;
}

const PERMISSIONS: ReadonlySet<string> = new Set(['anyone', 'authenticated', 'capability', 'nobody']);
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Resolved namespace settings, looked up per channel. */
export class Namespaces {
  private readonly byName = new Map<string, Readonly<NamespaceOptions>>();
  private readonly fallback: Readonly<NamespaceOptions>;
  private readonly strict: boolean;

  constructor(config: NamespacesConfig = {}) {
    this.fallback = resolve('default', { ...DEFAULT_NAMESPACE, ...config.default });
    this.strict = config.strict ?? false;
    this.byName.set('', this.fallback);
    for (const [name, options] of Object.entries(config.namespaces ?? {})) {
      if (!NAME.test(name)) invalidArgument(`namespace name ${JSON.stringify(name)} must be 1-64 letters, digits, _ or -`);
      this.byName.set(name, resolve(name, { ...this.fallback, ...options }));
    }
  }

  /** The namespace of a channel: the part before the first `:`, or `''`. */
  static nameOf(channel: string): string {
    const colon = channel.indexOf(':');
    return colon === -1 ? '' : channel.slice(0, colon);
  }

  /** Settings for `channel`, or null when its namespace is unknown and `strict` is on. */
  lookup(channel: string): Readonly<NamespaceOptions> | null {
    const found = this.byName.get(Namespaces.nameOf(channel));
    if (found !== undefined) return found;
    return this.strict ? null : this.fallback;
  }

  /** Configured namespace names (the default one is `''`). */
  names(): string[] {
    return [...this.byName.keys()];
  }
}

function resolve(name: string, options: NamespaceOptions): Readonly<NamespaceOptions> {
  const where = `namespace ${JSON.stringify(name)}`;
  for (const key of ['historySize', 'historyTtlMs', 'maxSubscribers'] as const) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 0) invalidArgument(`${where}: ${key} must be a non-negative integer`);
  }
  if (options.historySize > 0 && options.historyTtlMs === 0) invalidArgument(`${where}: historyTtlMs must be positive when history is on`);
  for (const key of ['presence', 'joinLeave', 'countsOnly'] as const) {
    if (typeof options[key] !== 'boolean') invalidArgument(`${where}: ${key} must be true or false`);
  }
  for (const key of ['subscribe', 'publish', 'history', 'presenceQuery'] as const) {
    if (!PERMISSIONS.has(options[key])) invalidArgument(`${where}: ${key} must be one of anyone, authenticated, capability, nobody`);
  }
  if (options.joinLeave && !options.presence) invalidArgument(`${where}: joinLeave needs presence`);
  return Object.freeze({ ...options });
}
