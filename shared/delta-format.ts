import { promisify } from "node:util";
import { brotliCompress, constants } from "node:zlib";
import { canonicalJson } from "./canonical-json.js";

const brotli = promisify(brotliCompress);

/**
 * The delta file: rebuilds a target version's payload from a base version's
 * payload. One file, deterministic (the same base and target give the same
 * bytes), read by positional reads so the device never holds more than one
 * window or one tensor chunk.
 *
 * Layout
 *   offset 0       8 bytes   magic "EPDELTA2"
 *   offset 8       4 bytes   H, unsigned 32-bit little-endian: the stored header's length
 *   offset 12      4 bytes   U, unsigned 32-bit little-endian: the header's length once decompressed
 *   offset 16      H bytes   header: brotli of the canonical JSON (UTF-8) of a DeltaHeader
 *   offset 16 + H  D bytes   data section, D = header.dataLength; the file ends there
 * U is at most MAX_DELTA_HEADER_BYTES and is checked before anything is allocated.
 *
 * A Blob {at, len, codec} names bytes [at, at + len) of the data section.
 * codec "raw": the bytes as they are. codec "brotli": Node's zlib brotli
 * (generic mode); it is only used when it saved space, so a brotli blob is
 * always shorter than what it decodes to. A SizedBlob also names `size`, the
 * bytes it decodes to, where the format does not imply it. The writer appends
 * blobs in header order (files by path, then windows, streams, tensors, chunks,
 * planes in order), no gaps, no sharing.
 *
 * Files (header.files, sorted by path). Each target file's size and SHA-256 are
 * the signed target manifest's, which the applier holds: the header does not
 * repeat them, and every rebuilt file is checked against the manifest.
 * - same:    the base file at the same path (it must hash to the target's SHA-256).
 * - full:    `data` decodes to the whole file.
 * - windows: base {size, sha256} is the base file at the same path. The target
 *            is cut into windows of header.windowBytes; window i is target bytes
 *            [i*W, min(size, (i+1)*W)), and its base window is the same range of
 *            the base, clipped to the base's size (possibly empty). Per window:
 *            copy     the base window, which has the same length;
 *            bsdiff   a standard BSDIFF40 patch turning the base window into the
 *                     target window (Debian's bspatch applies it);
 *            copy-add three streams (copy-add-format.ts): instructions (add,
 *                     copy) lengths, one offset per copy (into the base window,
 *                     or back into the target window already rebuilt) and the
 *                     added literal bytes; their decoded sizes together are at
 *                     most the window's length;
 *            data     a Blob holding the window.
 * - tensors: both files are safetensors. `header` decodes to the target's first
 *            dataStart bytes (8-byte length + JSON, stored whole). `tensors` lists
 *            every target tensor in data-offset order. Per tensor:
 *            same       the base tensor of that name (same dtype and shape);
 *            xor-planes the base tensor of that name has the same dtype and
 *                       shape; the tensor is cut into chunks of
 *                       header.chunkBytes (a multiple of 8, so whole elements);
 *                       chunks[k][p] holds byte p of every element of
 *                       (target XOR base) in chunk k, for p < element size;
 *            full       chunks[k] decodes to chunk k of the target tensor.
 *
 * The applier checks every base file's SHA-256 before using it, every Blob
 * against the data section and the length it must decode to, and every rebuilt
 * file's size and SHA-256 against the target manifest.
 */
export const DELTA_MAGIC = Buffer.from("EPDELTA2", "ascii");
export const DELTA_FORMAT = "edgepull-delta";
export const DELTA_FORMAT_VERSION = 2;
/** Bytes before the data section, besides the header itself. */
export const DELTA_PREFIX_BYTES = 16;
export const MAX_DELTA_HEADER_BYTES = 64 * 1024 * 1024;

export const DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;
/** Bounds the applier accepts: memory on the device is what these protect. */
export const MIN_PIECE_BYTES = 4096;
export const MAX_WINDOW_BYTES = 64 * 1024 * 1024;
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;

/** Measured on XOR planes of float32 weights: brotli 5 matches deflate 6 in size at about twice the speed. */
export const BROTLI_QUALITY = 5;
/**
 * Small inputs (the header, copy-add streams) get brotli's best quality: on the
 * streams of a tokenizer edit quality 11 is about 5 % smaller than 5, and up to
 * 256 KiB it costs a fraction of a second; above that quality 5 keeps the
 * publisher fast on windows of new content.
 */
export const SMALL_BROTLI_BYTES = 256 * 1024;
export const SMALL_BROTLI_QUALITY = 11;

export function brotliQualityFor(size: number): number {
  return size <= SMALL_BROTLI_BYTES ? SMALL_BROTLI_QUALITY : BROTLI_QUALITY;
}

export type BlobCodec = "raw" | "brotli";

export interface Blob {
  at: number;
  len: number;
  codec: BlobCodec;
}

/** A blob that also names the bytes it decodes to. */
export interface SizedBlob extends Blob {
  size: number;
}

export interface BaseRef {
  size: number;
  sha256: string;
}

export interface CopyAddStreams<T> {
  instructions: T;
  offsets: T;
  literals: T;
}

export type DeltaWindow =
  | { op: "copy" }
  | { op: "bsdiff"; patch: Blob }
  | ({ op: "copy-add" } & CopyAddStreams<SizedBlob>)
  | { op: "data"; data: Blob };

export type TensorDelta =
  | { name: string; op: "same" }
  | { name: string; op: "xor-planes"; chunks: Blob[][] }
  | { name: string; op: "full"; chunks: Blob[] };

interface FileCommon {
  path: string;
}

export type DeltaFile =
  | (FileCommon & { op: "same" })
  | (FileCommon & { op: "full"; data: Blob })
  | (FileCommon & { op: "windows"; base: BaseRef; windows: DeltaWindow[] })
  | (FileCommon & { op: "tensors"; base: BaseRef; header: Blob; tensors: TensorDelta[] });

export type DeltaOp = DeltaFile["op"];

export interface DeltaHeader {
  format: typeof DELTA_FORMAT;
  formatVersion: typeof DELTA_FORMAT_VERSION;
  baseVersion: string;
  targetVersion: string;
  windowBytes: number;
  chunkBytes: number;
  dataLength: number;
  files: DeltaFile[];
}

/** Magic, header lengths and compressed header: everything before the data section. */
export async function encodeDeltaPrefix(header: DeltaHeader): Promise<Buffer> {
  const json = Buffer.from(canonicalJson(header), "utf8");
  if (json.length > MAX_DELTA_HEADER_BYTES) throw new RangeError(`delta header of ${json.length} bytes is over the limit`);
  const packed = await brotli(json, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: brotliQualityFor(json.length),
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_GENERIC,
      [constants.BROTLI_PARAM_SIZE_HINT]: json.length,
    },
  });
  const out = Buffer.alloc(DELTA_PREFIX_BYTES + packed.length);
  DELTA_MAGIC.copy(out, 0);
  out.writeUInt32LE(packed.length, 8);
  out.writeUInt32LE(json.length, 12);
  packed.copy(out, DELTA_PREFIX_BYTES);
  return out;
}

/** [begin, end) of piece `index` when `size` bytes are cut into pieces of `piece` bytes. */
export function pieceRange(index: number, piece: number, size: number): [number, number] {
  return [index * piece, Math.min(size, (index + 1) * piece)];
}

export function pieceCount(size: number, piece: number): number {
  return Math.ceil(size / piece);
}
