/**
 * Pre-built masked message frames of one connection: the frame is masked once with the connection's fixed key
 * and repeated `maxBatch` times; sending `n` messages copies `n` frames and patches in the (masked) send stamp,
 * and, for hub `publish` commands, a fresh fixed-width id per frame.
 *
 * @module
 */

import { buildMaskedFrame, payloadOffset } from './frames.js';
import { FIRST_PUBLISH_ID, writeId } from './hub-wire.js';
import { STAMP_SIZE, encodeStamp } from './stamp.js';
import type { PayloadLayout } from './target.js';

/** Batches of identical stamped frames for one connection. */
export class StampedFrames {
  /** Bytes of one frame. */
  readonly frameLength: number;
  private readonly template: Buffer;
  private readonly stampAt: number;
  /** Frame offset of the id digits, or -1 when the messages carry none. */
  private readonly idAt: number;
  private readonly idPhase: number;
  private readonly key: Uint8Array;
  private readonly stamp = Buffer.alloc(STAMP_SIZE);
  /** The id of the next frame built (when the messages carry ids). */
  private nextId = FIRST_PUBLISH_ID;

  constructor(opcode: number, layout: PayloadLayout, key: Uint8Array, maxBatch: number) {
    const frame = buildMaskedFrame(opcode, layout.payload, key);
    this.frameLength = frame.length;
    this.template = Buffer.allocUnsafe(frame.length * maxBatch);
    for (let i = 0; i < maxBatch; i++) frame.copy(this.template, i * frame.length);
    this.stampAt = payloadOffset(layout.payload.length) + layout.stampOffset;
    this.idAt = layout.idOffset === undefined ? -1 : payloadOffset(layout.payload.length) + layout.idOffset;
    this.idPhase = layout.idOffset ?? 0;
    this.key = key;
  }

  /** Most frames one {@link build} call can produce. */
  get maxBatch(): number {
    return this.template.length / this.frameLength;
  }

  /** `n` frames (n ≤ maxBatch) stamped with `micros` (and numbered), in one new buffer ready to write. */
  build(n: number, micros: number): Buffer {
    const size = n * this.frameLength;
    const out = Buffer.allocUnsafe(size);
    this.template.copy(out, 0, 0, size);
    const s = this.stamp;
    const k = this.key;
    encodeStamp(micros, s);
    // The stamp offset is a multiple of 4: stamp byte j is masked with key byte j & 3.
    const s0 = s[0]! ^ k[0]!, s1 = s[1]! ^ k[1]!, s2 = s[2]! ^ k[2]!, s3 = s[3]! ^ k[3]!;
    const s4 = s[4]! ^ k[0]!, s5 = s[5]! ^ k[1]!, s6 = s[6]! ^ k[2]!, s7 = s[7]! ^ k[3]!;
    for (let p = this.stampAt; p < size; p += this.frameLength) {
      out[p] = s0;
      out[p + 1] = s1;
      out[p + 2] = s2;
      out[p + 3] = s3;
      out[p + 4] = s4;
      out[p + 5] = s5;
      out[p + 6] = s6;
      out[p + 7] = s7;
    }
    if (this.idAt >= 0) {
      for (let p = this.idAt; p < size; p += this.frameLength) writeId(this.nextId++, out, p, k, this.idPhase);
    }
    return out;
  }
}
