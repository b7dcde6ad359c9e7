// @ts-check
/**
 * "alice is typing…": who typed recently in the room. Typing events are publications on a side channel
 * (`typing:<room>`) subscribed without recovery, so an old event is never replayed; each shows its author
 * for {@link SHOW_MS}, and a message from the author clears it at once.
 *
 * @module
 */

/** How long a typing event keeps its author listed, ms. */
export const SHOW_MS = 3000;
/** The least time between two typing events one client sends, ms. */
export const SEND_EVERY_MS = 2000;

export class TypingLine {
  /** @type {HTMLElement} */ #el;
  /** Until when each author is shown, by nickname. @type {Map<string, number>} */ #until = new Map();
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #timer;

  constructor(/** @type {HTMLElement} */ el) {
    this.#el = el;
  }

  /** `nick` is typing. */
  typing(/** @type {string} */ nick) {
    this.#until.set(nick, Date.now() + SHOW_MS);
    this.#render();
  }

  /** `nick` sent a message: no longer typing. */
  sent(/** @type {string} */ nick) {
    if (this.#until.delete(nick)) this.#render();
  }

  clear() {
    this.#until.clear();
    this.#render();
  }

  #render() {
    clearTimeout(this.#timer);
    const now = Date.now();
    for (const [nick, until] of this.#until) if (until <= now) this.#until.delete(nick);
    const nicks = [...this.#until.keys()];
    this.#el.textContent =
      nicks.length === 0 ? '' : nicks.length === 1 ? `${nicks[0]} is typing…` : nicks.length <= 3 ? `${nicks.join(', ')} are typing…` : 'several people are typing…';
    if (nicks.length > 0) this.#timer = setTimeout(() => this.#render(), Math.min(...this.#until.values()) - now + 10);
  }
}
