import { EdgeError } from "./errors.js";

/**
 * The three streams of a copy-add window (delta-format.ts), VCDIFF's idea
 * with each kind of number in its own stream so that brotli sees alike
 * values together.
 *
 * instructions  pairs (add, copy) of LEB128 unsigned integers: take `add`
 *               bytes from the literals stream, then copy `copy` bytes;
 *               add + copy > 0. The pairs rebuild the window exactly.
 * offsets       one LEB128 integer v per pair whose copy > 0:
 *               v even: a copy from the base window starting at
 *                       E + unzigzag(v / 2), where E is where the previous base
 *                       copy of the window ended (0 before the first), so an
 *                       edit that keeps the rest in place costs one byte;
 *               v odd:  a copy from the target window already rebuilt,
 *                       starting (v - 1) / 2 + 1 bytes before the current
 *                       position; it may overlap what it writes (byte by
 *                       byte, like LZ77), which turns runs into one copy.
 * literals      the added bytes, in order.
 */

/** A LEB128 integer takes at most this many bytes here (values below 2^35; windows are far smaller). */
export const MAX_VARINT_BYTES = 5;

export type CopySource = { from: "base"; start: number; expected: number } | { from: "target"; distance: number };

/** The offsets-stream value of a copy. */
export function offsetValue(source: CopySource): number {
  if (source.from === "target") return 2 * (source.distance - 1) + 1;
  const delta = source.start - source.expected;
  return 2 * (delta < 0 ? -2 * delta - 1 : 2 * delta);
}

/** Bytes a LEB128 integer takes. */
export function varintBytes(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

/** A growing byte buffer for LEB128 integers. */
export class VarintWriter {
  private bytes = new Uint8Array(256);
  private length = 0;

  push(value: number): void {
    if (this.length + MAX_VARINT_BYTES > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    let v = value;
    while (v >= 0x80) {
      this.bytes[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.bytes[this.length++] = v;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.bytes.buffer, 0, this.length);
  }
}

/** Reads LEB128 integers; anything malformed or past the end is a corrupt delta. */
export class VarintReader {
  private at = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly where: string,
  ) {}

  get done(): boolean {
    return this.at === this.bytes.length;
  }

  next(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.at >= this.bytes.length)
        throw new EdgeError("BUNDLE_CORRUPT", `delta: ${this.where} ends inside a number or lacks one`);
      const byte = this.bytes[this.at++] as number;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 0x80;
    }
    throw new EdgeError("BUNDLE_CORRUPT", `delta: ${this.where} holds a number longer than ${MAX_VARINT_BYTES} bytes`);
  }
}

/** Where a copy reads from, given its offsets-stream value. */
export function copySource(value: number, expected: number): CopySource {
  if (value % 2 === 1) return { from: "target", distance: (value - 1) / 2 + 1 };
  const z = value / 2;
  return { from: "base", start: expected + (z % 2 === 0 ? z / 2 : -(z + 1) / 2), expected };
}
