/**
 * A message framed once and sent to many connections: the frame a server writes does not depend on the
 * connection (servers do not mask), so a broadcast can build it once and hand the same bytes to every socket.
 *
 * @module
 */

import { Opcode } from './constants.js';
import { invalidArgument } from './errors.js';
import { frameHeaderSize, writeFrameHeader } from './frame-header.js';

/**
 * One data message with its unmasked, uncompressed single-frame encoding. Immutable: the payload is copied in.
 *
 * A server connection writes {@link PreparedMessage.frame} as it is when it can (see `Connection.sendPrepared`);
 * otherwise (a client, which must mask; a compressed message; a frame size limit; a fragmented message in
 * progress) it sends {@link PreparedMessage.payload} the ordinary way, so the result on the wire is always what
 * `send(payload)` would have produced or an equivalent uncompressed frame.
 */
export class PreparedMessage {
  /** The whole frame: header and payload, FIN set, no mask, no RSV bits. Shared: never modify it. */
  readonly frame: Buffer;
  /** The payload, a view of {@link PreparedMessage.frame}. Shared: never modify it. */
  readonly payload: Buffer;
  /** Whether the message is binary (opcode 2) rather than text (opcode 1). */
  readonly binary: boolean;

  /**
   * @param data - A string goes as text (UTF-8); bytes go as binary unless `binary` is false, and then they must
   * be valid UTF-8 (not checked here, as with `send`).
   * @param binary - Override the message type.
   * @throws {@link WebSocketError} `VOLLEY_ERR_INVALID_ARGUMENT` when `data` is neither a string nor bytes.
   */
  constructor(data: string | Uint8Array, binary?: boolean) {
    let length: number;
    if (typeof data === 'string') {
      length = Buffer.byteLength(data, 'utf8');
      this.binary = binary === true;
    } else if (data instanceof Uint8Array) {
      length = data.byteLength;
      this.binary = binary !== false;
    } else {
      invalidArgument('a prepared message is a string or a Uint8Array');
    }
    const headerSize = frameHeaderSize(length, false);
    // Its own memory, not a slice of Node's shared pool: sockets may hold it for a while behind slow peers.
    const frame = Buffer.allocUnsafeSlow(headerSize + length);
    writeFrameHeader(frame, 0, this.binary ? Opcode.Binary : Opcode.Text, true, false, length, null);
    if (typeof data === 'string') frame.write(data, headerSize, length, 'utf8');
    else frame.set(data, headerSize);
    this.frame = frame;
    this.payload = frame.subarray(headerSize);
  }
}
