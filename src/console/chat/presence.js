// @ts-check
/**
 * The "Here now" list of a room: the channel's presence members, one line per nickname (a nickname open in
 * two tabs shows ×2). Members come from `channel.presence()` and then from `join`/`leave` events.
 *
 * @module
 */

/** @typedef {{ clientId: string, userId: string, data?: unknown }} ClientInfo */

/** The nickname a member announced in its presence data, or its user id. */
function nickOf(/** @type {ClientInfo} */ info) {
  const data = /** @type {{ nick?: unknown } | undefined} */ (info.data);
  if (data && typeof data.nick === 'string' && data.nick !== '') return data.nick;
  return info.userId || 'anonymous';
}

export class PresenceList {
  /** @type {HTMLUListElement} */ #ul;
  /** @type {HTMLElement} */ #count;
  /** @type {HTMLElement} */ #note;
  /** Members by client id. @type {Map<string, ClientInfo>} */ #members = new Map();
  #ownNick = '';

  constructor(/** @type {{ list: HTMLUListElement, count: HTMLElement, note: HTMLElement }} */ elements) {
    this.#ul = elements.list;
    this.#count = elements.count;
    this.#note = elements.note;
  }

  /** Replaces the members (a presence query's answer). */
  set(/** @type {readonly ClientInfo[]} */ members, /** @type {string} */ ownNick) {
    this.#ownNick = ownNick;
    this.#members = new Map(members.map((m) => [m.clientId, m]));
    this.#note.hidden = true;
    this.#render();
  }

  join(/** @type {ClientInfo} */ info) {
    this.#members.set(info.clientId, info);
    this.#render();
  }

  leave(/** @type {ClientInfo} */ info) {
    this.#members.delete(info.clientId);
    this.#render();
  }

  /** Presence cannot be shown: say why, and list only oneself. */
  unavailable(/** @type {string} */ why, /** @type {string} */ ownNick) {
    this.#members.clear();
    this.#ownNick = ownNick;
    this.#note.textContent = why;
    this.#note.hidden = false;
    this.#ul.replaceChildren(this.#line(ownNick, 1));
    this.#count.textContent = '';
  }

  clear() {
    this.#members.clear();
    this.#ul.replaceChildren();
    this.#count.textContent = '';
    this.#note.hidden = true;
  }

  #render() {
    /** @type {Map<string, number>} */
    const byNick = new Map();
    for (const info of this.#members.values()) byNick.set(nickOf(info), (byNick.get(nickOf(info)) ?? 0) + 1);
    const nicks = [...byNick.keys()].sort((a, b) => a.localeCompare(b));
    this.#ul.replaceChildren(...nicks.map((nick) => this.#line(nick, byNick.get(nick) ?? 1)));
    this.#count.textContent = nicks.length > 0 ? `(${nicks.length})` : '';
  }

  #line(/** @type {string} */ nick, /** @type {number} */ connections) {
    const li = document.createElement('li');
    li.textContent = nick;
    if (nick === this.#ownNick) li.classList.add('self');
    if (connections > 1) li.dataset['connections'] = `×${connections}`;
    return li;
  }
}
