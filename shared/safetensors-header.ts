import type { FileHandle } from "node:fs/promises";

/**
 * The safetensors header, and only the header (huggingface/safetensors): an
 * 8-byte little-endian length N, N bytes of JSON mapping tensor names to
 * { dtype, shape, data_offsets: [begin, end] } relative to the data section,
 * plus an optional "__metadata__". The delta codec needs the layout on both
 * sides; tensors themselves are read by the callers, range by range.
 */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
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
};

/** The reference implementation refuses headers past 100 MB; so do we, before allocating. */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

export interface TensorLayout {
  name: string;
  dtype: string;
  shape: number[];
  elementBytes: number;
  /** [begin, end) relative to the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsLayout {
  /** Absolute file offset of the data section: 8 + header length. */
  dataStart: number;
  /** Sorted by data offset; they tile the data section exactly. */
  tensors: TensorLayout[];
}

export class SafetensorsHeaderError extends Error {
  override name = "SafetensorsHeaderError";
}

const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Parses `json` (the N header bytes) and checks it against a file of `fileSize` bytes. */
export function parseSafetensorsHeader(json: Buffer, fileSize: number): SafetensorsLayout {
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString("utf8"));
  } catch (err) {
    throw new SafetensorsHeaderError(`header is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new SafetensorsHeaderError("header is not a JSON object");
  const dataStart = 8 + json.length;
  const tensors: TensorLayout[] = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    if (typeof value !== "object" || value === null) throw new SafetensorsHeaderError(`tensor ${name} is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    const elementBytes = typeof dtype === "string" ? SAFETENSORS_DTYPE_BYTES[dtype] : undefined;
    if (elementBytes === undefined) throw new SafetensorsHeaderError(`tensor ${name} has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isIndex)) throw new SafetensorsHeaderError(`tensor ${name} has an invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      throw new SafetensorsHeaderError(`tensor ${name} data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    const bytes = (shape as number[]).reduce((n, d) => n * d, 1) * elementBytes;
    if (!Number.isSafeInteger(bytes) || end < begin || end - begin !== bytes) {
      throw new SafetensorsHeaderError(
        `tensor ${name} data_offsets [${begin}, ${end}] do not hold ${dtype} ${JSON.stringify(shape)}`,
      );
    }
    tensors.push({ name, dtype: dtype as string, shape: [...(shape as number[])], elementBytes, begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const t of tensors) {
    if (t.begin !== expected) throw new SafetensorsHeaderError(`tensor ${t.name} starts at ${t.begin}, expected ${expected}`);
    expected = t.end;
  }
  if (expected !== fileSize - dataStart) {
    throw new SafetensorsHeaderError(
      `tensors cover ${expected} bytes but the file holds ${fileSize - dataStart} after the header`,
    );
  }
  return { dataStart, tensors };
}

/** Reads and parses the header of an open file; `bytes` is the whole prefix (length + JSON) as stored. */
export async function readSafetensorsHeader(
  handle: FileHandle,
  fileSize: number,
): Promise<{ layout: SafetensorsLayout; bytes: Buffer }> {
  if (fileSize < 8) throw new SafetensorsHeaderError(`${fileSize} bytes, too short for the header length`);
  const prefix = Buffer.alloc(8);
  await readExactly(handle, prefix, 0);
  const length = prefix.readBigUInt64LE(0);
  if (length > BigInt(Math.min(MAX_SAFETENSORS_HEADER_BYTES, fileSize - 8))) {
    throw new SafetensorsHeaderError(`header length ${length} exceeds the file (${fileSize} bytes) or the limit`);
  }
  const bytes = Buffer.alloc(8 + Number(length));
  prefix.copy(bytes);
  await readExactly(handle, bytes.subarray(8), 8);
  return { layout: parseSafetensorsHeader(bytes.subarray(8), fileSize), bytes };
}

async function readExactly(handle: FileHandle, target: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new SafetensorsHeaderError(`file ended at ${position + done}`);
    done += bytesRead;
  }
}
