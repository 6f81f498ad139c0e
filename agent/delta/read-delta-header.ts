import type { FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import { brotliDecompress } from "node:zlib";
import {
  type Blob,
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  DELTA_MAGIC,
  DELTA_PREFIX_BYTES,
  type DeltaHeader,
  MAX_CHUNK_BYTES,
  MAX_DELTA_HEADER_BYTES,
  MAX_WINDOW_BYTES,
  MIN_PIECE_BYTES,
} from "../../shared/delta-format.js";
import { EdgeError } from "../../shared/errors.js";
import { unsafePathReason } from "../../shared/safe-path.js";

export interface OpenedDelta {
  header: DeltaHeader;
  /** Absolute offset of the data section in the delta file. */
  dataStart: number;
}

const corrupt = (message: string, cause?: unknown) => new EdgeError("BUNDLE_CORRUPT", `delta: ${message}`, { cause });
const unbrotli = promisify(brotliDecompress);
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const SHA256_RE = /^[0-9a-f]{64}$/;
const COPY_ADD_STREAMS = ["instructions", "offsets", "literals"] as const;

/**
 * Reads the prefix and the compressed header (its decompressed length bounded
 * before anything is allocated) and checks the structure: every blob inside the
 * data section, the file ending exactly after it, sizes and piece lengths
 * within the bounds that keep the device's memory bounded. What depends on the
 * base (tensor names, window ranges) is checked while applying.
 */
export async function readDeltaHeader(handle: FileHandle, fileSize: number): Promise<OpenedDelta> {
  if (fileSize < DELTA_PREFIX_BYTES) throw new EdgeError("BUNDLE_TRUNCATED", `delta: ${fileSize} bytes, shorter than its prefix`);
  const prefix = Buffer.alloc(DELTA_PREFIX_BYTES);
  await handle.read(prefix, 0, DELTA_PREFIX_BYTES, 0);
  if (!prefix.subarray(0, 8).equals(DELTA_MAGIC)) {
    throw corrupt(
      `magic ${JSON.stringify(prefix.subarray(0, 8).toString("latin1"))}, expected ${DELTA_MAGIC.toString("latin1")}`,
    );
  }
  const stored = prefix.readUInt32LE(8);
  const decoded = prefix.readUInt32LE(12);
  if (stored === 0 || stored > Math.min(MAX_DELTA_HEADER_BYTES, fileSize - DELTA_PREFIX_BYTES)) {
    throw corrupt(`header length ${stored} is zero or exceeds the file (${fileSize} bytes) or ${MAX_DELTA_HEADER_BYTES}`);
  }
  if (decoded === 0 || decoded > MAX_DELTA_HEADER_BYTES)
    throw corrupt(`header announces ${decoded} bytes decompressed, outside 1..${MAX_DELTA_HEADER_BYTES}`);
  const packed = Buffer.alloc(stored);
  const { bytesRead } = await handle.read(packed, 0, stored, DELTA_PREFIX_BYTES);
  if (bytesRead !== stored) throw new EdgeError("BUNDLE_TRUNCATED", "delta: header cut short");
  let json: Buffer;
  try {
    json = await unbrotli(packed, { maxOutputLength: decoded });
  } catch (err) {
    throw corrupt(`header does not decompress within ${decoded} bytes: ${(err as Error).message}`, err);
  }
  if (json.length !== decoded) throw corrupt(`header decompresses to ${json.length} bytes, the prefix says ${decoded}`);
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString("utf8"));
  } catch (err) {
    throw corrupt(`header is not JSON: ${(err as Error).message}`, err);
  }
  const dataStart = DELTA_PREFIX_BYTES + stored;
  const header = checkHeader(raw);
  if (dataStart + header.dataLength !== fileSize) {
    const code = dataStart + header.dataLength > fileSize ? "BUNDLE_TRUNCATED" : "BUNDLE_CORRUPT";
    throw new EdgeError(code, `delta: header announces ${dataStart + header.dataLength} bytes, the file holds ${fileSize}`);
  }
  return { header, dataStart };
}

function checkHeader(raw: unknown): DeltaHeader {
  if (!isObject(raw)) throw corrupt("header is not an object");
  if (raw.format !== DELTA_FORMAT || raw.formatVersion !== DELTA_FORMAT_VERSION) {
    throw corrupt(
      `format ${JSON.stringify(raw.format)} version ${JSON.stringify(raw.formatVersion)} is not ${DELTA_FORMAT} ${DELTA_FORMAT_VERSION}`,
    );
  }
  const { windowBytes, chunkBytes, dataLength, files } = raw;
  if (typeof raw.baseVersion !== "string" || typeof raw.targetVersion !== "string") throw corrupt("versions are not strings");
  if (!isCount(windowBytes) || windowBytes < MIN_PIECE_BYTES || windowBytes > MAX_WINDOW_BYTES)
    throw corrupt(`windowBytes ${windowBytes} out of bounds`);
  if (!isCount(chunkBytes) || chunkBytes < MIN_PIECE_BYTES || chunkBytes > MAX_CHUNK_BYTES || chunkBytes % 8 !== 0) {
    throw corrupt(`chunkBytes ${chunkBytes} out of bounds or not a multiple of 8`);
  }
  if (!isCount(dataLength)) throw corrupt("dataLength is not a count");
  if (!Array.isArray(files)) throw corrupt("files is not a list");
  const seen = new Set<string>();
  for (const [i, file] of files.entries()) {
    if (!isObject(file)) throw corrupt(`files[${i}] is not an object`);
    const { path } = file;
    if (typeof path !== "string") throw corrupt(`files[${i}].path is not a string`);
    const reason = unsafePathReason(path);
    if (reason) throw new EdgeError("PATH_UNSAFE", `delta: file path ${JSON.stringify(path)} ${reason}`);
    if (seen.has(path)) throw corrupt(`file ${path} is listed twice`);
    seen.add(path);
    const blobs = blobsOf(file, path);
    for (const [where, blob] of blobs) checkBlob(blob, dataLength, `file ${path} ${where}`);
  }
  return raw as unknown as DeltaHeader;
}

/** Every blob a file entry names, with where it sits, after checking the entry's shape. */
function blobsOf(file: Record<string, unknown>, path: string): [string, unknown][] {
  const out: [string, unknown][] = [];
  const list = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v)) throw corrupt(`file ${path}: ${what} is not a list`);
    return v;
  };
  switch (file.op) {
    case "same":
      return out;
    case "full":
      return [["data", file.data]];
    case "windows":
    case "tensors": {
      const base = file.base;
      if (!isObject(base) || !isCount(base.size) || typeof base.sha256 !== "string" || !SHA256_RE.test(base.sha256)) {
        throw corrupt(`file ${path}: base is not {size, sha256}`);
      }
      if (file.op === "windows") {
        for (const [i, w] of list(file.windows, "windows").entries()) {
          if (!isObject(w)) throw corrupt(`file ${path}: window ${i} is not an object`);
          if (w.op === "bsdiff") out.push([`window ${i}`, w.patch]);
          else if (w.op === "data") out.push([`window ${i}`, w.data]);
          else if (w.op === "copy-add") {
            for (const stream of COPY_ADD_STREAMS) {
              const blob = w[stream];
              if (!isObject(blob) || !isCount(blob.size)) throw corrupt(`file ${path}: window ${i} ${stream} has no size`);
              out.push([`window ${i} ${stream}`, blob]);
            }
          } else if (w.op !== "copy") throw corrupt(`file ${path}: window ${i} op ${JSON.stringify(w.op)}`);
        }
        return out;
      }
      out.push(["header", file.header]);
      for (const t of list(file.tensors, "tensors")) {
        if (!isObject(t) || typeof t.name !== "string") throw corrupt(`file ${path}: a tensor entry has no name`);
        if (t.op === "full")
          for (const [k, b] of list(t.chunks, `tensor ${t.name} chunks`).entries()) out.push([`tensor ${t.name} chunk ${k}`, b]);
        else if (t.op === "xor-planes") {
          for (const [k, planes] of list(t.chunks, `tensor ${t.name} chunks`).entries()) {
            for (const [p, b] of list(planes, `tensor ${t.name} chunk ${k}`).entries())
              out.push([`tensor ${t.name} chunk ${k} plane ${p}`, b]);
          }
        } else if (t.op !== "same") throw corrupt(`file ${path}: tensor ${t.name} op ${JSON.stringify(t.op)}`);
      }
      return out;
    }
    default:
      throw corrupt(`file ${path}: op ${JSON.stringify(file.op)} is unknown`);
  }
}

function checkBlob(blob: unknown, dataLength: number, where: string): asserts blob is Blob {
  if (!isObject(blob) || !isCount(blob.at) || !isCount(blob.len) || (blob.codec !== "raw" && blob.codec !== "brotli")) {
    throw corrupt(`${where}: not a blob {at, len, codec}`);
  }
  if (blob.at + blob.len > dataLength) {
    throw corrupt(`${where}: bytes [${blob.at}, ${blob.at + blob.len}) lie outside the data section of ${dataLength} bytes`);
  }
}
