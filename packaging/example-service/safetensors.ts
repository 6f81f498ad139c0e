import { type FileHandle, open, rm } from "node:fs/promises";
import { endianness } from "node:os";

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON mapping tensor names to
 * { dtype, shape, data_offsets: [begin, end] } (offsets relative to the data
 * section) plus an optional "__metadata__" of strings, then the data section,
 * every byte of it owned by exactly one tensor. Everything little-endian.
 *
 * This file has no dependency beyond Node: the example service ships alone.
 */
export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata?: Record<string, string>;
  /** Absolute file offset of the data section: 8 + header length. */
  dataStart: number;
}

/** The reference implementation refuses headers past 100 MB; so do we, before allocating. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";
const LITTLE_ENDIAN_HOST = endianness() === "LE";

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

function isDtype(value: unknown): value is Dtype {
  return typeof value === "string" && Object.hasOwn(DTYPE_BYTES, value);
}

function isIndex(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Parses and validates the JSON header against the size of the data section it describes. */
export function parseHeader(json: string, dataStart: number, fileSize: number): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new SafetensorsError(`header is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new SafetensorsError("header is not a JSON object");
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value);
      continue;
    }
    tensors.set(name, parseTensor(name, value));
  }
  const dataBytes = fileSize - dataStart;
  // The tensors must tile the data section exactly: no gap, no overlap, nothing after.
  const ordered = [...tensors.entries()].sort(
    (a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1],
  );
  let expected = 0;
  for (const [name, info] of ordered) {
    const [begin, end] = info.dataOffsets;
    if (begin !== expected) {
      throw new SafetensorsError(
        `tensor ${name} starts at data offset ${begin}, expected ${expected} (${begin > expected ? "a gap" : "an overlap"})`,
      );
    }
    expected = end;
  }
  if (expected !== dataBytes) {
    throw new SafetensorsError(`tensors cover ${expected} bytes of data but the file holds ${dataBytes} after the header`);
  }
  return { tensors, ...(metadata ? { metadata } : {}), dataStart };
}

function parseMetadata(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SafetensorsError(`${METADATA_KEY} is not an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new SafetensorsError(`${METADATA_KEY}.${k} is ${typeof v}, expected a string`);
    out[k] = v;
  }
  return out;
}

function parseTensor(name: string, value: unknown): TensorInfo {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new SafetensorsError(`tensor ${name} is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (!isDtype(dtype)) throw new SafetensorsError(`tensor ${name} has unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw new SafetensorsError(`tensor ${name} shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw new SafetensorsError(`tensor ${name} data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  const bytes = elementCount(shape) * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(bytes)) throw new SafetensorsError(`tensor ${name} shape ${JSON.stringify(shape)} is too large`);
  if (end < begin || end - begin !== bytes) {
    throw new SafetensorsError(
      `tensor ${name} data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} ${JSON.stringify(shape)} needs ${bytes}`,
    );
  }
  return { dtype, shape: [...shape] as number[], dataOffsets: [begin, end] };
}

/** An open safetensors file: the header is read and checked up front, tensors on demand. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly header: SafetensorsHeader,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      if (size < 8) throw new SafetensorsError(`${path}: ${size} bytes, too short for the 8-byte header length`);
      const prefix = Buffer.alloc(8);
      await handle.read(prefix, 0, 8, 0);
      const length = prefix.readBigUInt64LE(0);
      if (length > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
        throw new SafetensorsError(
          `${path}: header length ${length} exceeds the file (${size} bytes) or ${MAX_HEADER_BYTES} bytes`,
        );
      }
      const json = Buffer.alloc(Number(length));
      await handle.read(json, 0, json.length, 8);
      let header: SafetensorsHeader;
      try {
        header = parseHeader(json.toString("utf8"), 8 + json.length, size);
      } catch (err) {
        throw new SafetensorsError(`${path}: ${(err as Error).message}`);
      }
      return new SafetensorsFile(path, header, handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw new SafetensorsError(`${this.path}: no tensor named ${name}`);
    return info;
  }

  /** The tensor's raw little-endian bytes. */
  async readBytes(name: string): Promise<Buffer> {
    const info = this.info(name);
    const [begin, end] = info.dataOffsets;
    const out = Buffer.alloc(end - begin);
    await this.readInto(out, this.header.dataStart + begin);
    return out;
  }

  async readF32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    if (info.dtype !== "F32") throw new SafetensorsError(`${this.path}: tensor ${name} is ${info.dtype}, expected F32`);
    const out = new Float32Array(elementCount(info.shape));
    const bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    await this.readInto(bytes, this.header.dataStart + info.dataOffsets[0]);
    if (!LITTLE_ENDIAN_HOST) bytes.swap32();
    return out;
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  private async readInto(target: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await this.handle.read(target, done, target.length - done, position + done);
      if (bytesRead === 0) throw new SafetensorsError(`${this.path}: file ended at ${position + done}, inside a tensor`);
      done += bytesRead;
    }
  }
}

export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  /**
   * Little-endian bytes or, for F32, a Float32Array; or a function giving such
   * chunks, so a large tensor is streamed and never whole in memory. A chunk may
   * be reused once the next one is asked for.
   */
  data: Uint8Array | Float32Array | (() => AsyncIterable<Uint8Array | Float32Array>);
}

/** The header bytes for these tensors, in name order, padded with spaces to a multiple of 8 as the reference writer does. */
export function encodeHeader(
  tensors: Record<string, Pick<TensorToWrite, "dtype" | "shape">>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  const entries: [string, unknown][] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    if (name === METADATA_KEY) throw new SafetensorsError(`${METADATA_KEY} is reserved, not a tensor name`);
    const t = tensors[name] as Pick<TensorToWrite, "dtype" | "shape">;
    if (!t.shape.every(isIndex)) throw new SafetensorsError(`tensor ${name} shape ${JSON.stringify(t.shape)} is invalid`);
    const bytes = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
    entries.push([name, { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] }]);
    offset += bytes;
  }
  if (metadata)
    entries.push([
      METADATA_KEY,
      Object.fromEntries(
        Object.keys(metadata)
          .sort()
          .map((k) => [k, metadata[k]]),
      ),
    ]);
  for (const [k, v] of entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) header[k] = v;
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const out = Buffer.alloc(8 + Buffer.byteLength(json));
  out.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  out.write(json, 8, "utf8");
  return out;
}

/** Writes a safetensors file; the same tensors and metadata always give the same bytes. */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  const handle = await open(path, "w");
  try {
    await handle.write(encodeHeader(tensors, metadata));
    for (const name of Object.keys(tensors).sort()) {
      const t = tensors[name] as TensorToWrite;
      const expected = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
      let written = 0;
      for await (const chunk of chunksOf(name, t)) {
        written += chunk.byteLength;
        if (written > expected) break;
        await handle.write(chunk);
      }
      if (written !== expected) {
        throw new SafetensorsError(
          `tensor ${name}: ${t.dtype} ${JSON.stringify(t.shape)} needs ${expected} bytes, the data gave ${written}`,
        );
      }
    }
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(path, { force: true });
    throw err;
  }
}

async function* chunksOf(name: string, t: TensorToWrite): AsyncIterable<Uint8Array> {
  const source = typeof t.data === "function" ? t.data() : [t.data];
  for await (const chunk of source) {
    if (chunk instanceof Float32Array) {
      if (t.dtype !== "F32") throw new SafetensorsError(`tensor ${name}: Float32Array data given for dtype ${t.dtype}`);
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      // The format is little-endian; floats in host order need swapping on a big-endian host only.
      yield LITTLE_ENDIAN_HOST ? bytes : Buffer.from(bytes).swap32();
    } else {
      yield chunk;
    }
  }
}
