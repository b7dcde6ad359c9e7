/**
 * Server-side subscriptions (the hub subscribed the connection by itself, `subscribed` push) for which the
 * application holds no {@link Channel}: their publications and gaps are events of the client, deduplicated
 * by offset like a channel's. They last as long as the connection; the hub re-creates them on reconnect.
 *
 * @module
 */

import type { GapPush, WirePublication } from '../hub/wire.js';
import type { Emitter } from './emitter.js';
import type { ClientEvents } from './types.js';

/** See the module comment. */
export class ServerSubscriptions {
  readonly #positions = new Map<string, { epoch: string; offset: number }>();
  readonly #events: Emitter<ClientEvents>;

  constructor(events: Emitter<ClientEvents>) {
    this.#events = events;
  }

  /** The position of a server-side subscription, if there is one. */
  position(channel: string): { epoch: string; offset: number } | undefined {
    const position = this.#positions.get(channel);
    return position === undefined ? undefined : { ...position };
  }

  /** A `subscribed` push. `announce`: no Channel handles it, so the client reports it. */
  subscribed(channel: string, epoch: string, offset: number, announce: boolean): void {
    this.#positions.set(channel, { epoch, offset });
    if (announce) this.#events.emit('subscribed', { channel, epoch, offset });
  }

  /** A publication of a channel no Channel handles. */
  publication(channel: string, push: WirePublication): void {
    const position = this.#positions.get(channel);
    if (position === undefined) return; // a late publication of a channel just unsubscribed
    if (position.epoch !== '') {
      if (push.offset <= position.offset) return;
      position.offset = push.offset;
    }
    this.#events.emit(
      'publication',
      push.info === undefined
        ? { channel, data: push.data, offset: push.offset, time: push.time }
        : { channel, data: push.data, offset: push.offset, info: push.info, time: push.time },
    );
  }

  /** A gap of a channel no Channel handles. */
  gap(channel: string, gap: GapPush): void {
    const position = this.#positions.get(channel);
    if (position === undefined) return;
    position.offset = gap.epochChanged ? Math.max(0, gap.toOffset) : Math.max(position.offset, gap.toOffset);
    this.#events.emit('gap', { channel, fromOffset: gap.fromOffset, toOffset: gap.toOffset, epochChanged: gap.epochChanged === true });
  }

  /** An `unsubscribed` push for a channel no Channel handles. */
  unsubscribed(channel: string, reason: string): void {
    if (this.#positions.delete(channel)) this.#events.emit('unsubscribed', { channel, reason });
  }

  /** The connection ended: the hub forgets them too. */
  clear(): void {
    this.#positions.clear();
  }
}
