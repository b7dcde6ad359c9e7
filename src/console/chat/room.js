// @ts-check
/**
 * One joined room: the `chat:<room>` channel (messages, history, presence) and the `typing:<room>` side
 * channel. Joining reads the last {@link HISTORY_LIMIT} messages with `history()` and subscribes from the
 * position that page ended at, so whatever was published in between is replayed by the hub: nothing is
 * missed and, since the list is keyed by offset, nothing is shown twice. After a reconnect the SDK resumes
 * the subscription from its last position; the room notes how many messages that recovered, or the gap.
 *
 * @module
 */

import { MessageList } from './message-list.js';
import { PresenceList } from './presence.js';
import { SEND_EVERY_MS, TypingLine } from './typing.js';

/**
 * @typedef {import('../../sdk/index.js').Volley} Volley
 * @typedef {import('../../sdk/index.js').Channel<unknown>} AnyChannel
 * @typedef {import('../../sdk/index.js').VolleyError} VolleyError
 * @typedef {import('../../sdk/index.js').Publication<unknown>} Publication
 */

/** Messages shown when joining. */
export const HISTORY_LIMIT = 50;
/** How often the presence list is read again while joined, ms (join/leave events keep it current between). */
const PRESENCE_REFRESH_MS = 15_000;

/** A random id: the message's key in the page and its idempotency key at the hub. */
function messageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function describe(/** @type {unknown} */ error) {
  return error instanceof Error ? error.message : String(error);
}

export class Room {
  /** @type {Volley} */ #client;
  /** @readonly */ name;
  /** @readonly */ nick;
  /** @type {AnyChannel} */ #chat;
  /** @type {AnyChannel} */ #typing;
  /** @type {MessageList} */ #list;
  /** @type {PresenceList} */ #presence;
  /** @type {TypingLine} */ #typers;
  /** @type {() => void} */ #onOutboxChange;
  /** @type {Array<() => void>} */ #off = [];
  #left = false;
  #joined = false;
  /** Publications delivered since a resubscribe after a reconnect started. */
  #recovering = false;
  #recoveredCount = 0;
  /** The offset of the first publication the resubscribe replayed (the note goes above it). @type {number | undefined} */
  #firstRecovered;
  /** Of those, publications the list had already shown (the SDK should make this 0). */
  #recoveredDuplicates = 0;
  #presenceOff = false;
  #lastTypingSent = 0;
  /** @type {ReturnType<typeof setInterval> | undefined} */ #presenceTimer;

  /**
   * @param {Volley} client
   * @param {{ name: string, nick: string, messages: HTMLOListElement, presence: PresenceList, typing: HTMLElement, onOutboxChange: () => void }} options
   */
  constructor(client, options) {
    this.#client = client;
    this.name = options.name;
    this.nick = options.nick;
    this.#chat = client.channel(`chat:${this.name}`);
    this.#typing = client.channel(`typing:${this.name}`);
    this.#list = new MessageList(options.messages);
    this.#presence = options.presence;
    this.#typers = new TypingLine(options.typing);
    this.#onOutboxChange = options.onOutboxChange;
  }

  /** Shows the recent history, then subscribes from where it ends. */
  async join() {
    this.#list.clear();
    this.#presence.clear();
    this.#listen();
    /** @type {{ epoch: string, offset: number } | undefined} */
    let since;
    try {
      const page = await this.#chat.history({ limit: HISTORY_LIMIT, reverse: true });
      if (this.#left) return;
      for (const pub of [...page.publications].reverse()) this.#list.add(pub, this.nick);
      if (page.epoch !== '') since = { epoch: page.epoch, offset: page.offset };
    } catch (error) {
      if (this.#left) return;
      this.#list.note(`No history: ${describe(error)}`, 'warn');
    }
    const presenceData = { nick: this.nick };
    this.#chat.subscribe(since ? { presenceData, since } : { presenceData }).catch((error) => {
      if (!this.#left) this.#list.note(`Cannot join ${this.name}: ${describe(error)}`, 'error');
    });
    // Typing events are worth nothing later: no recovery.
    this.#typing.subscribe({ recover: false }).catch(() => {});
    this.#presenceTimer = setInterval(() => this.#client.state === 'connected' && void this.#readPresence(), PRESENCE_REFRESH_MS);
  }

  /** Unsubscribes both channels and forgets them. */
  leave() {
    this.#left = true;
    for (const off of this.#off) off();
    clearInterval(this.#presenceTimer);
    this.#client.removeChannel(this.#chat.name);
    this.#client.removeChannel(this.#typing.name);
    this.#typers.clear();
  }

  /** Publishes a message; it shows as pending until the hub's copy arrives. */
  send(/** @type {string} */ text) {
    const id = messageId();
    this.#list.addPending(id, this.nick, text);
    this.#chat
      .publish({ type: 'message', id, nick: this.nick, text }, { idempotencyKey: id })
      .catch((/** @type {VolleyError} */ error) => this.#list.failPending(id, error.code ?? describe(error)))
      .finally(this.#onOutboxChange);
    this.#onOutboxChange();
    this.#lastTypingSent = 0;
  }

  /** The user is typing: tells the room, at most every {@link SEND_EVERY_MS}, and only while connected. */
  typing() {
    const now = Date.now();
    if (now - this.#lastTypingSent < SEND_EVERY_MS || this.#client.state !== 'connected') return;
    this.#lastTypingSent = now;
    this.#typing.publish({ type: 'typing', nick: this.nick }).catch(() => {});
  }

  #listen() {
    const chat = this.#chat;
    this.#off.push(
      chat.on('publication', (pub) => this.#onMessage(pub)),
      chat.on('subscribing', ({ reason }) => {
        if (reason !== 'reconnect') return;
        this.#recovering = true;
        this.#recoveredCount = 0;
        this.#recoveredDuplicates = 0;
        this.#firstRecovered = undefined;
      }),
      chat.on('subscribed', ({ wasRecovering, recovered }) => {
        if (this.#recovering && this.#joined && wasRecovering) {
          const n = this.#recoveredCount;
          const note = this.#list.note(
            recovered
              ? `Back online: caught up on ${n} message${n === 1 ? '' : 's'}.`
              : 'Back online, but some messages could not be recovered.',
            recovered ? 'recovery' : 'warn',
            this.#firstRecovered,
          );
          note.dataset['recovered'] = String(n);
          note.dataset['duplicates'] = String(this.#recoveredDuplicates);
        }
        this.#recovering = false;
        this.#joined = true;
        void this.#readPresence();
      }),
      chat.on('gap', ({ fromOffset, toOffset, epochChanged }) => {
        if (epochChanged) {
          this.#list.clear();
          this.#list.note('The room’s history was reset on the hub; earlier messages are gone.', 'warn');
        } else {
          const n = toOffset - fromOffset + 1;
          this.#list.note(`${n} message${n === 1 ? ' was' : 's were'} lost (no longer in the hub’s history).`, 'warn');
        }
      }),
      chat.on('join', ({ info }) => this.#presence.join(info)),
      chat.on('leave', ({ info }) => this.#presence.leave(info)),
      chat.on('error', ({ error }) => this.#list.note(`Subscription problem: ${error.message}`, 'warn')),
      this.#typing.on('publication', ({ data, info }) => {
        const typing = /** @type {{ type?: unknown, nick?: unknown }} */ (data);
        if (info?.clientId === this.#client.clientId || typing?.type !== 'typing' || typeof typing.nick !== 'string') return;
        this.#typers.typing(typing.nick.slice(0, 24));
      }),
    );
  }

  #onMessage(/** @type {Publication} */ pub) {
    const added = this.#list.add(pub, this.nick);
    if (this.#recovering) {
      if (this.#recoveredCount++ === 0 && pub.offset > 0) this.#firstRecovered = pub.offset;
      if (!added) this.#recoveredDuplicates++;
    }
    if (!added) return;
    const data = /** @type {{ nick?: unknown }} */ (pub.data);
    if (typeof data?.nick === 'string') this.#typers.sent(data.nick);
  }

  async #readPresence() {
    if (this.#presenceOff || this.#left) return;
    try {
      const { members } = await this.#chat.presence();
      if (!this.#left) this.#presence.set(members ?? [], this.nick);
    } catch (error) {
      if (this.#left) return;
      const code = /** @type {VolleyError} */ (error).code;
      if (code === 'unavailable' || code === 'permission_denied') {
        this.#presenceOff = true;
        const why =
          code === 'unavailable'
            ? 'Presence is off for the chat namespace on this hub. docs/demo.md shows the config that turns it on.'
            : 'This connection may not see who is here.';
        this.#presence.unavailable(why, this.nick);
      }
    }
  }
}
