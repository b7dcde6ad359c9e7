// @ts-check
/**
 * The message list of one room. Every publication is shown once: entries are keyed by their offset in the
 * channel's stream (history, recovery and live delivery may each bring the same publication) and kept in
 * offset order. Messages still in the SDK's outbox are shown as pending at the bottom until their
 * publication comes back from the hub; system notes (recovery, gaps) sit between messages.
 *
 * @module
 */

/**
 * @typedef {{ type: 'message', id: string, nick: string, text: string }} ChatMessage
 * @typedef {{ data: unknown, offset: number, time: number, info?: { clientId: string, userId: string } }} Pub
 */

/** Whether `data` is a message this demo publishes. @returns {data is ChatMessage} */
export function isChatMessage(/** @type {unknown} */ data) {
  if (typeof data !== 'object' || data === null) return false;
  const d = /** @type {Record<string, unknown>} */ (data);
  return d['type'] === 'message' && typeof d['id'] === 'string' && typeof d['nick'] === 'string' && typeof d['text'] === 'string';
}

/** A stable hue for a nickname, so that each person keeps a colour. */
function hue(/** @type {string} */ nick) {
  let h = 0;
  for (let i = 0; i < nick.length; i++) h = (h * 31 + nick.charCodeAt(i)) >>> 0;
  return h % 360;
}

function clock(/** @type {number} */ time) {
  return new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** @returns {HTMLLIElement} */
function entry(/** @type {string} */ nick, /** @type {string} */ text, /** @type {number | undefined} */ time) {
  const li = document.createElement('li');
  li.className = 'msg';
  const meta = li.appendChild(document.createElement('div'));
  meta.className = 'meta';
  const who = meta.appendChild(document.createElement('span'));
  who.className = 'nick';
  who.textContent = nick;
  who.style.setProperty('--hue', String(hue(nick)));
  const when = meta.appendChild(document.createElement('time'));
  if (time !== undefined) {
    when.dateTime = new Date(time).toISOString();
    when.textContent = clock(time);
  }
  const body = li.appendChild(document.createElement('div'));
  body.className = 'text';
  body.textContent = text;
  return li;
}

export class MessageList {
  /** @type {HTMLOListElement} */ #ol;
  /** Keys of the publications shown. @type {Set<string>} */ #shown = new Set();
  /** Pending entries by message id. @type {Map<string, HTMLLIElement>} */ #pending = new Map();
  /** Publications offered again after they were shown (kept in the list's `data-duplicates`). */
  #duplicates = 0;

  constructor(/** @type {HTMLOListElement} */ ol) {
    this.#ol = ol;
  }

  /** Removes every entry. */
  clear() {
    this.#ol.replaceChildren();
    this.#shown.clear();
    this.#pending.clear();
    this.#duplicates = 0;
    delete this.#ol.dataset['duplicates'];
  }

  /**
   * Shows a publication unless it is already shown; returns whether it was new.
   * @param {Pub} pub
   * @param {string} ownNick marks the messages of this nickname as one's own
   */
  add(pub, ownNick) {
    const message = isChatMessage(pub.data) ? pub.data : null;
    // Offsets are 0 in namespaces without history: then the message id is the key.
    const key = pub.offset > 0 ? `o${pub.offset}` : `i${message?.id ?? Math.random()}`;
    if (this.#shown.has(key)) {
      this.#ol.dataset['duplicates'] = String(++this.#duplicates);
      return false;
    }
    this.#shown.add(key);
    const li = message
      ? entry(message.nick, message.text, pub.time)
      : entry(pub.info?.userId || 'server', JSON.stringify(pub.data).slice(0, 500), pub.time);
    if (pub.offset > 0) li.dataset['offset'] = String(pub.offset);
    if (message && message.nick === ownNick) li.classList.add('own');
    if (message) {
      this.#pending.get(message.id)?.remove();
      this.#pending.delete(message.id);
    }
    this.#keepScrolled(() => this.#place(li, pub.offset));
    return true;
  }

  /** Shows a message of one's own that waits for the hub's ack. */
  addPending(/** @type {string} */ id, /** @type {string} */ nick, /** @type {string} */ text) {
    const li = entry(nick, text, undefined);
    li.classList.add('own', 'pending');
    li.dataset['pending'] = id;
    /** @type {HTMLElement} */ (li.querySelector('time')).textContent = 'sending…';
    this.#pending.set(id, li);
    this.#keepScrolled(() => this.#ol.append(li));
  }

  /** A pending message was refused or timed out. */
  failPending(/** @type {string} */ id, /** @type {string} */ reason) {
    const li = this.#pending.get(id);
    if (li === undefined) return;
    li.classList.replace('pending', 'failed');
    /** @type {HTMLElement} */ (li.querySelector('time')).textContent = `not sent: ${reason}`;
    this.#pending.delete(id);
  }

  /**
   * Adds a system note (recovery, gaps, errors): at the end, or above the publication at `beforeOffset`.
   * @param {string} text
   * @param {string} kind
   * @param {number} [beforeOffset]
   */
  note(text, kind = 'info', beforeOffset) {
    const li = document.createElement('li');
    li.className = `note ${kind}`;
    li.textContent = text;
    const at = beforeOffset === undefined ? null : this.#ol.querySelector(`.msg[data-offset="${beforeOffset}"]`);
    const next = at ?? this.#pending.values().next().value ?? null;
    this.#keepScrolled(() => this.#ol.insertBefore(li, next));
    return li;
  }

  /** Inserts before the first shown entry with a greater offset (usually: at the end, above pending ones). */
  #place(/** @type {HTMLLIElement} */ li, /** @type {number} */ offset) {
    /** @type {Element | null} */
    let next = this.#pending.values().next().value ?? null;
    if (offset > 0) {
      for (let node = next ? next.previousElementSibling : this.#ol.lastElementChild; node; node = node.previousElementSibling) {
        const at = /** @type {HTMLElement} */ (node).dataset['offset'];
        if (at === undefined) continue;
        if (Number(at) < offset) break;
        next = node;
      }
    }
    this.#ol.insertBefore(li, next);
  }

  /** Runs `change`; if the list was scrolled to the bottom, keeps it there. */
  #keepScrolled(/** @type {() => void} */ change) {
    const ol = this.#ol;
    const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 48;
    change();
    if (atBottom) ol.scrollTop = ol.scrollHeight;
  }
}
