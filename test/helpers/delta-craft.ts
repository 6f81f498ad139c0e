import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync } from "node:zlib";
import { VarintWriter } from "../../shared/copy-add-format.js";
import { DELTA_PREFIX_BYTES, type DeltaFile, type DeltaHeader, encodeDeltaPrefix } from "../../shared/delta-format.js";
import { sha256File } from "../../shared/digest.js";
import type { PayloadFile } from "../../shared/manifest.js";

/**
 * Takes a delta file apart and puts it back together, for tests that read or
 * tamper with its header and data section.
 */
export function splitDelta(bytes: Buffer): { header: DeltaHeader; data: Buffer } {
  const stored = bytes.readUInt32LE(8);
  const json = brotliDecompressSync(bytes.subarray(DELTA_PREFIX_BYTES, DELTA_PREFIX_BYTES + stored));
  return { header: JSON.parse(json.toString("utf8")) as DeltaHeader, data: bytes.subarray(DELTA_PREFIX_BYTES + stored) };
}

export async function joinDelta(header: DeltaHeader, data: Buffer): Promise<Buffer> {
  return Buffer.concat([await encodeDeltaPrefix(header), data]);
}

export function fileOf<Op extends DeltaFile["op"]>(header: DeltaHeader, op: Op, path?: string): Extract<DeltaFile, { op: Op }> {
  const file = header.files.find((f) => f.op === op && (path === undefined || f.path === path));
  if (!file) throw new Error(`no ${op} file${path ? ` ${path}` : ""} in the delta`);
  return file as Extract<DeltaFile, { op: Op }>;
}

/**
 * Random 32-bit words with every 16th moved by 0x1000 when `moved`, as
 * relocated pointers are: bsdiff's byte-wise difference is nearly all zeros,
 * so its patch is the smallest encoding of such windows (copy-add has to add a
 * random byte for each moved word).
 */
export function relocatedTable(bytes: number, moved: boolean): Buffer {
  const out = Buffer.alloc(bytes);
  let s = 7;
  for (let i = 0; i < bytes / 4; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out.writeUInt32LE(moved && i % 16 === 0 ? (s + 0x1000) >>> 0 : s, i * 4);
  }
  return out;
}

/** A fresh temporary root with empty base and target folders. */
export async function deltaFolders(prefix: string): Promise<{ root: string; baseDir: string; targetDir: string }> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const [baseDir, targetDir] = [join(root, "base"), join(root, "target")];
  await mkdir(baseDir);
  await mkdir(targetDir);
  return { root, baseDir, targetDir };
}

/** The payload list of `paths` in `dir`, as a manifest has it. */
export async function payloadOf(dir: string, paths: string[]): Promise<PayloadFile[]> {
  const out: PayloadFile[] = [];
  for (const path of paths) out.push({ path, mode: 0o644, ...(await sha256File(join(dir, path))) });
  return out;
}

/** LEB128 integers, as a copy-add stream holds them. */
export function varints(...values: number[]): Buffer {
  const w = new VarintWriter();
  for (const v of values) w.push(v);
  return w.toBuffer();
}
