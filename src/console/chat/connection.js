// @ts-check
/**
 * The connection badge and the reconnect banner, driven by the client's events. The SDK has three states
 * (connecting, connected, disconnected); the page shows four: `connecting` before the first connection,
 * `reconnecting` after one was lost (with the backoff delay counting down), `connected`, and
 * `disconnected` once the client stopped. The transport in use (websocket, sse, polling) is shown beside it
 * and in the badge's `data-transport`, which the browser tests read.
 *
 * @module
 */

/** @typedef {import('../../sdk/index.js').Volley} Volley */

export class ConnectionView {
  /** @type {Volley} */ #client;
  /** @type {{ badge: HTMLElement, text: HTMLElement, banner: HTMLElement }} */ #el;
  #everConnected = false;
  /** When the next reconnect attempt starts (ms since the epoch), or 0. */
  #retryAt = 0;
  #attempt = 0;
  #lastReason = '';
  /** @type {ReturnType<typeof setInterval> | undefined} */ #ticker;

  constructor(/** @type {Volley} */ client, /** @type {{ badge: HTMLElement, text: HTMLElement, banner: HTMLElement }} */ elements) {
    this.#client = client;
    this.#el = elements;
    client.on('state', () => this.render());
    client.on('transport', () => this.render());
    client.on('connected', () => {
      this.#everConnected = true;
      this.#retryAt = 0;
      this.#attempt = 0;
      this.render();
    });
    client.on('disconnected', ({ reason }) => {
      this.#lastReason = reason;
      this.render();
    });
    client.on('reconnecting', ({ delayMs, attempt }) => {
      this.#retryAt = Date.now() + delayMs;
      this.#attempt = attempt;
      this.render();
    });
    client.on('connecting', () => {
      this.#retryAt = 0;
      this.render();
    });
    addEventListener('online', () => this.render());
    addEventListener('offline', () => this.render());
  }

  /** The state the page shows. @returns {'connecting' | 'connected' | 'reconnecting' | 'disconnected'} */
  get shown() {
    const state = this.#client.state;
    if (state === 'connecting' && this.#everConnected) return 'reconnecting';
    return state;
  }

  /** Redraws the badge and the banner (also when the outbox changes). */
  render() {
    const shown = this.shown;
    const transport = this.#client.transport ?? '';
    const { badge, text, banner } = this.#el;
    badge.dataset['state'] = shown;
    badge.dataset['transport'] = shown === 'connected' ? transport : '';
    text.textContent = shown === 'connected' ? `connected · ${transport}` : shown;

    const waiting = this.#client.outboxSize;
    const queued = waiting > 0 ? ` ${waiting} message${waiting === 1 ? '' : 's'} will be sent when it is back.` : '';
    let message = '';
    if (shown === 'connecting') message = 'Connecting to the hub…';
    else if (shown === 'reconnecting') {
      const seconds = Math.ceil((this.#retryAt - Date.now()) / 1000);
      const when = !navigator.onLine ? 'when the network is back' : this.#retryAt > 0 && seconds > 0 ? `in ${seconds} s` : 'now';
      message = `Connection lost${this.#lastReason ? ` (${this.#lastReason})` : ''}. Reconnecting ${when}${this.#attempt > 1 ? ` (attempt ${this.#attempt})` : ''}…${queued}`;
    } else if (shown === 'disconnected') message = `Disconnected${this.#lastReason ? `: ${this.#lastReason}` : ''}. Reload the page to connect again.`;
    banner.textContent = message;
    banner.className = `banner ${shown}`;
    banner.hidden = message === '';

    // Count the reconnect delay down while it runs.
    const counting = shown === 'reconnecting' && this.#retryAt > Date.now();
    if (counting && this.#ticker === undefined) this.#ticker = setInterval(() => this.render(), 500);
    if (!counting && this.#ticker !== undefined) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }
}
