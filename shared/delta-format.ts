import { canonicalJson } from "./canonical-json.js";

/**
 * The delta file: rebuilds a target version's payload from a base version's
 * payload. One file, deterministic (the same base and target give the same
 * bytes), read by positional reads so the device never holds more than one
 * window or one tensor chunk.
 *
 * Layout
 *   offset 0       8 bytes   magic "EPDELTA1"
 *   offset 8       8 bytes   H, unsigned 64-bit little-endian
 *   offset 16      H bytes   header: canonical JSON (UTF-8) of a DeltaHeader
 *   offset 16 + H  D bytes   data section, D = header.dataLength; the file ends there
 *
 * A Blob {at, len, codec} names bytes [at, at + len) of the data section.
 * codec "raw": the bytes as they are. codec "brotli": Node's zlib brotli
 * (quality 5, generic mode); it is only used when it saved space, so a brotli
 * blob is always shorter than what it decodes to. The writer appends blobs in
 * header order (files by path, then windows, tensors, chunks, planes in order),
 * no gaps, no sharing.
 *
 * Files (header.files, sorted by path, each with the target's size and SHA-256):
 * - same:    the base file at the same path, whose SHA-256 is `sha256`.
 * - full:    `data` decodes to the whole file.
 * - bsdiff:  base {size, sha256} is the base file at the same path. The target
 *            is cut into windows of header.windowBytes; window i is target bytes
 *            [i*W, min(size, (i+1)*W)), and its base window is the same range of
 *            the base, clipped to the base's size (possibly empty). Per window:
 *            copy (the base window, which has the same length), bsdiff (a
 *            standard BSDIFF40 patch turning the base window into the target
 *            window; Debian's bspatch applies it), or data (a Blob).
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
 * file's SHA-256 against the target manifest.
 */
export const DELTA_MAGIC = Buffer.from("EPDELTA1", "ascii");
export const DELTA_FORMAT = "edgepull-delta";
export const DELTA_FORMAT_VERSION = 1;
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

export type BlobCodec = "raw" | "brotli";

export interface Blob {
  at: number;
  len: number;
  codec: BlobCodec;
}

export interface BaseRef {
  size: number;
  sha256: string;
}

export type DeltaWindow = { op: "copy" } | { op: "bsdiff"; patch: Blob } | { op: "data"; data: Blob };

export type TensorDelta =
  | { name: string; op: "same" }
  | { name: string; op: "xor-planes"; chunks: Blob[][] }
  | { name: string; op: "full"; chunks: Blob[] };

interface FileCommon {
  path: string;
  size: number;
  sha256: string;
}

export type DeltaFile =
  | (FileCommon & { op: "same" })
  | (FileCommon & { op: "full"; data: Blob })
  | (FileCommon & { op: "bsdiff"; base: BaseRef; windows: DeltaWindow[] })
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

/** Magic, header length and header: everything before the data section. */
export function encodeDeltaPrefix(header: DeltaHeader): Buffer {
  const json = Buffer.from(canonicalJson(header), "utf8");
  const out = Buffer.alloc(DELTA_PREFIX_BYTES + json.length);
  DELTA_MAGIC.copy(out, 0);
  out.writeBigUInt64LE(BigInt(json.length), 8);
  json.copy(out, DELTA_PREFIX_BYTES);
  return out;
}

/** [begin, end) of piece `index` when `size` bytes are cut into pieces of `piece` bytes. */
export function pieceRange(index: number, piece: number, size: number): [number, number] {
  return [index * piece, Math.min(size, (index + 1) * piece)];
}

export function pieceCount(size: number, piece: number): number {
  return Math.ceil(size / piece);
}
