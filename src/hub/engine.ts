/**
 * The hub's pluggable backends: where publications are ordered and kept ({@link HistoryStore}), how they reach
 * every node ({@link Broker}), and who is in a channel ({@link PresenceStore}). `engines/` implements them
 * (memory, SQLite, later Redis); each interface has a shared contract test suite in `engines/contract/` that
 * every implementation must pass.
 *
 * @module
 */

/** Who published: attached to publications and presence entries. */
export interface ClientInfo {
  /** Connection id (unique per connection, across nodes). */
  readonly clientId: string;
  /** Authenticated user id (`sub` of the token), or `''` for anonymous connections. */
  readonly userId: string;
  /** Optional application data (from the token's `info` claim, or presence data given at subscribe). */
  readonly data?: unknown;
}

/**
 * A channel's position: `offset` of the newest publication within `epoch`. The epoch changes whenever the
 * stream's continuity is lost (history wiped, store recreated), so an offset is only meaningful with its epoch.
 */
export interface StreamPosition {
  readonly epoch: string;
  /** Offset of the newest publication, 0 when none was ever published in this epoch. */
  readonly offset: number;
}

/** One message in a channel. */
export interface Publication {
  /** Gapless, monotonically increasing within the channel's epoch, starting at 1. 0 for channels without history. */
  readonly offset: number;
  /** The application's payload: any JSON value. */
  readonly data: unknown;
  /** Who published, when a client did (absent for the HTTP API and server-side publishes). */
  readonly info?: ClientInfo;
  /** Milliseconds since the epoch (wall clock) when the hub accepted it. */
  readonly time: number;
}

/** History settings of a channel, from its namespace. */
export interface HistoryOptions {
  /** Keep at most this many publications (oldest dropped first). */
  readonly size: number;
  /**
   * Drop publications older than this, in ms. The stream itself (epoch and newest offset) is kept longer, for a
   * store-defined time after its last publication expired, so recovery after a quiet period sees no false gap.
   */
  readonly ttlMs: number;
}

/** What {@link HistoryStore.append} reports. */
export interface AppendResult {
  /** The stored publication, with its assigned offset. */
  readonly publication: Publication;
  /** The channel's epoch. */
  readonly epoch: string;
  /**
   * True when `idempotencyKey` was seen within the dedupe window: nothing was appended and `publication` is the
   * one stored the first time.
   */
  readonly duplicate: boolean;
  /**
   * True when the store already delivered the publication to every node in the same atomic step as the append
   * (the Redis engine's script does): the hub must not publish it through the broker again.
   */
  readonly publishedByHistory?: boolean;
}

/** A query of {@link HistoryStore.read}. */
export interface HistoryQuery {
  /**
   * Return publications with an offset greater than this (exclusive), oldest first. Absent: from the oldest kept
   * (or, with `reverse`, from the newest).
   */
  readonly since?: number;
  /** At most this many publications. @default all */
  readonly limit?: number;
  /** Newest first. @default false */
  readonly reverse?: boolean;
}

/** What {@link HistoryStore.read} returns. */
export interface HistoryPage {
  readonly epoch: string;
  /** Offset of the newest publication in the stream (whether or not it is in this page). */
  readonly offset: number;
  /**
   * Offset of the oldest publication still kept, or `offset + 1` when none is kept. A reader that wants
   * everything after `since` lost data if `since + 1 < oldest`.
   */
  readonly oldest: number;
  readonly publications: readonly Publication[];
}

/**
 * Ordered, bounded storage of each channel's publications. `append` assigns offsets: for one channel, offsets
 * are gapless and strictly increasing in the order appends complete, even when appends overlap.
 */
export interface HistoryStore {
  /**
   * Appends a publication, assigning the next offset. With `idempotencyKey`, a key seen for this channel within
   * `dedupeWindowMs` appends nothing and returns the first result with `duplicate: true`.
   */
  append(
    channel: string,
    entry: { readonly data: unknown; readonly info?: ClientInfo; readonly time: number },
    options: HistoryOptions & { readonly idempotencyKey?: string; readonly dedupeWindowMs?: number },
  ): Promise<AppendResult>;
  /** Reads publications (see {@link HistoryQuery}). An unknown channel reads as an empty stream in a fresh epoch. */
  read(channel: string, query: HistoryQuery): Promise<HistoryPage>;
  /** The channel's current position (creates the epoch when the channel is unknown). */
  position(channel: string): Promise<StreamPosition>;
  /** Forgets a channel's stream; the next append starts a new epoch. */
  remove(channel: string): Promise<void>;
  /** Releases resources (files, timers). */
  close(): Promise<void>;
}

/** What a {@link Broker} delivers to the node that subscribed. */
export interface BrokerHandler {
  /** A publication in a channel this node subscribed to (from any node, this one included). */
  publication(channel: string, publication: Publication, epoch: string): void;
  /** A client joined a channel (presence), on any node. */
  join(channel: string, info: ClientInfo): void;
  /** A client left a channel (presence), on any node. */
  leave(channel: string, info: ClientInfo): void;
}

/**
 * Fan-out between nodes. A node subscribes only to the channels its own clients use (interest-based routing);
 * `publish` reaches every node subscribed to the channel, this one included, in the order `publish` was called
 * for that channel.
 */
export interface Broker {
  /** Installs the receiver of deliveries; called once, before any subscribe. */
  setHandler(handler: BrokerHandler): void;
  /** Delivers `publication` to every node subscribed to `channel`. */
  publish(channel: string, publication: Publication, epoch: string): Promise<void>;
  /** Announces a presence join to every node subscribed to `channel`. */
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  /** Announces a presence leave to every node subscribed to `channel`. */
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  /** Starts receiving `channel`. Idempotent. */
  subscribe(channel: string): Promise<void>;
  /** Stops receiving `channel`. Idempotent. */
  unsubscribe(channel: string): Promise<void>;
  /** Releases resources. */
  close(): Promise<void>;
}

/** Member counts of a channel. */
export interface PresenceStats {
  /** Connections present. */
  readonly clients: number;
  /** Distinct user ids among them (anonymous connections count as one user `''`). */
  readonly users: number;
}

/**
 * Who is in each channel. One entry per connection (a user on three tabs appears three times, with the same
 * user id). Entries added by a node expire after `ttlMs` unless that node refreshes them, so members of a node
 * that died disappear on their own.
 */
export interface PresenceStore {
  /** Adds or refreshes a member. */
  add(channel: string, info: ClientInfo, ttlMs: number): Promise<void>;
  /** Removes a member. Idempotent. */
  remove(channel: string, clientId: string): Promise<void>;
  /** Current members, keyed by client id. */
  members(channel: string): Promise<ReadonlyMap<string, ClientInfo>>;
  /** Current counts. */
  stats(channel: string): Promise<PresenceStats>;
  /** Releases resources. */
  close(): Promise<void>;
}
