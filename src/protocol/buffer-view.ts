/**
 * Cheap `Buffer` views. Every received message reaches the application as a `Buffer` over the bytes read from
 * the socket, so a view is built per message: Node 20's `Buffer#subarray` takes about 65 ns for that (argument
 * normalisation, then a subclass constructor reached through it), a direct typed-array constructor about 30 ns.
 *
 * A {@link bufferView} is a real `Buffer` in every observable way: `Buffer.isBuffer` and `instanceof Buffer` are
 * true, every `Buffer` method is inherited, `constructor` is `Buffer`, and its own `subarray`/`slice` return
 * ordinary Buffers. This is how Node builds its own Buffers (a `Uint8Array` subclass whose prototype is
 * `Buffer.prototype`).
 *
 * @module
 */

class BufferView extends Uint8Array {}
Object.setPrototypeOf(BufferView.prototype, Buffer.prototype);
Object.defineProperty(BufferView.prototype, 'constructor', { value: Buffer, writable: true, configurable: true });

/**
 * A `Buffer` over `buffer[start..end)`, sharing its memory. The caller guarantees
 * `0 <= start <= end <= buffer.length` (not checked: this is the per-message path).
 *
 * @example
 * ```ts
 * const payload = bufferView(chunk, 6, 6 + length); // no copy
 * ```
 */
export function bufferView(buffer: Buffer, start: number, end: number): Buffer {
  return new BufferView(buffer.buffer as ArrayBuffer, buffer.byteOffset + start, end - start) as unknown as Buffer;
}
