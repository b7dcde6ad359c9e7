/**
 * An append-only list of byte chunks that stays small when a peer dribbles a message in tiny pieces.
 *
 * Large chunks are kept as views (no copy). Small chunks are copied into a shared scratch block, so a frame
 * that arrives one byte per TCP read costs one object per {@link SCRATCH_SIZE} bytes, not one per byte
 * (the CVE-2026-48779 class of memory attack on per-chunk overhead).
 *
 * @module
 */

/** Chunks shorter than this are coalesced by copying. */
const SMALL_CHUNK = 1024;
/** Size of a scratch block that small chunks are copied into. */
const SCRATCH_SIZE = 16 * 1024;

/** Accumulates the payload of one message (or one frame) until it is complete. */
export class ChunkList {
  /** Total bytes held. */
  length = 0;
  /** Allocated on the first push: an idle connection holds three empty lists. */
  private chunks: Buffer[] | null = null;
  private scratch: Buffer | null = null;
  private scratchUsed = 0;
  /** Index in `chunks` of the view into `scratch` that may still grow, or -1. */
  private scratchIndex = -1;

  /** Appends `chunk`. The caller must not modify a large chunk afterwards (it is kept as a view). */
  push(chunk: Buffer): void {
    const size = chunk.length;
    if (size === 0) return;
    this.length += size;
    const chunks = (this.chunks ??= []);
    if (size >= SMALL_CHUNK) {
      chunks.push(chunk);
      this.scratchIndex = -1;
      return;
    }
    let scratch = this.scratch;
    if (scratch === null || this.scratchUsed + size > SCRATCH_SIZE) {
      scratch = this.scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
      this.scratchUsed = 0;
      this.scratchIndex = -1;
    }
    const start = this.scratchUsed;
    chunk.copy(scratch, start);
    this.scratchUsed = start + size;
    if (this.scratchIndex === chunks.length - 1 && this.scratchIndex >= 0) {
      const previous = chunks[this.scratchIndex]!;
      chunks[this.scratchIndex] = scratch.subarray(previous.byteOffset - scratch.byteOffset, this.scratchUsed);
    } else {
      this.scratchIndex = chunks.length;
      chunks.push(scratch.subarray(start, this.scratchUsed));
    }
  }

  /** Returns all bytes as one Buffer (a view when there is a single chunk) and empties the list. */
  take(): Buffer {
    const chunks = this.chunks;
    const result =
      chunks === null || chunks.length === 0 ? Buffer.alloc(0) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.length);
    this.clear();
    return result;
  }

  /** Copies all bytes into `target` from index 0 and empties the list (the caller makes room for `length`). */
  moveTo(target: Uint8Array): void {
    let at = 0;
    for (const chunk of this.chunks ?? []) {
      target.set(chunk, at);
      at += chunk.length;
    }
    this.clear();
  }

  /** Drops everything held. */
  clear(): void {
    this.chunks = null;
    this.length = 0;
    this.scratchIndex = -1;
    // A scratch block handed out as a view must not be written again: start a fresh one next time.
    this.scratch = null;
    this.scratchUsed = 0;
  }
}
