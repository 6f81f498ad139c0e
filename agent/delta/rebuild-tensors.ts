import type { FileHandle } from "node:fs/promises";
import { type DeltaFile, pieceCount, pieceRange } from "../../shared/delta-format.js";
import { EdgeError } from "../../shared/errors.js";
import {
  MAX_SAFETENSORS_HEADER_BYTES,
  parseSafetensorsHeader,
  readSafetensorsHeader,
  type SafetensorsLayout,
  type TensorLayout,
} from "../../shared/safetensors-header.js";
import { readBaseRange } from "./base-reader.js";
import type { DeltaBlobs } from "./delta-blobs.js";
import type { OutputFile } from "./output-file.js";

type TensorsEntry = Extract<DeltaFile, { op: "tensors" }> & { size: number };

const corrupt = (message: string, cause?: unknown) => new EdgeError("BUNDLE_CORRUPT", `delta: ${message}`, { cause });

/** Tensor by tensor, chunk by chunk: memory is one chunk of base, one of planes, one of output. */
export async function rebuildTensors(opts: {
  file: TensorsEntry;
  base: FileHandle;
  blobs: DeltaBlobs;
  chunkBytes: number;
  out: OutputFile;
  checkpoint: () => void;
}): Promise<void> {
  const { file, base, blobs, chunkBytes, out, checkpoint } = opts;
  const headerBytes = await blobs.decodeUpTo(file.header, 8 + MAX_SAFETENSORS_HEADER_BYTES, `${file.path} header`);
  const target = targetLayout(headerBytes, file);
  const baseLayout = await readSafetensorsHeader(base, file.base.size).catch((err: Error) => {
    throw corrupt(`${file.path}: the base is not a safetensors file: ${err.message}`, err);
  });
  const baseByName = new Map(baseLayout.layout.tensors.map((t) => [t.name, t]));
  if (file.tensors.length !== target.tensors.length) {
    throw corrupt(
      `${file.path}: ${file.tensors.length} tensor entries for ${target.tensors.length} tensors in the target header`,
    );
  }
  await out.write(headerBytes);
  for (const [index, entry] of file.tensors.entries()) {
    const t = target.tensors[index] as TensorLayout;
    const where = `${file.path} tensor ${t.name}`;
    if (entry.name !== t.name)
      throw corrupt(`${file.path}: tensor entry ${index} is ${entry.name}, the target header has ${t.name}`);
    const size = t.end - t.begin;
    const chunks = pieceCount(size, chunkBytes);
    if (entry.op === "full") {
      if (entry.chunks.length !== chunks) throw corrupt(`${where}: ${entry.chunks.length} chunks, expected ${chunks}`);
      for (const [k, blob] of entry.chunks.entries()) {
        checkpoint();
        const [b, e] = pieceRange(k, chunkBytes, size);
        await out.write(await blobs.decode(blob, e - b, `${where} chunk ${k}`));
      }
      continue;
    }
    const old = baseByName.get(t.name);
    if (!old || old.dtype !== t.dtype || old.shape.join(",") !== t.shape.join(",")) {
      throw corrupt(`${where}: the base has no ${t.dtype} [${t.shape.join(", ")}] tensor of that name`);
    }
    const baseAt = baseLayout.layout.dataStart + old.begin;
    if (entry.op === "same") {
      for (let k = 0; k < chunks; k++) {
        checkpoint();
        const [b, e] = pieceRange(k, chunkBytes, size);
        await out.write(await readBaseRange(base, file.base.size, baseAt + b, baseAt + e, where));
      }
      continue;
    }
    if (entry.chunks.length !== chunks) throw corrupt(`${where}: ${entry.chunks.length} chunks, expected ${chunks}`);
    for (const [k, planeBlobs] of entry.chunks.entries()) {
      checkpoint();
      const [b, e] = pieceRange(k, chunkBytes, size);
      if (planeBlobs.length !== t.elementBytes)
        throw corrupt(`${where} chunk ${k}: ${planeBlobs.length} planes, expected ${t.elementBytes}`);
      const chunk = await readBaseRange(base, file.base.size, baseAt + b, baseAt + e, where);
      const count = (e - b) / t.elementBytes;
      for (const [p, blob] of planeBlobs.entries()) {
        const plane = await blobs.decode(blob, count, `${where} chunk ${k} plane ${p}`);
        for (let i = 0, j = p; i < count; i++, j += t.elementBytes) chunk[j] = (chunk[j] as number) ^ (plane[i] as number);
      }
      await out.write(chunk);
    }
  }
}

function targetLayout(headerBytes: Buffer, file: TensorsEntry): SafetensorsLayout {
  if (headerBytes.length < 8 || headerBytes.readBigUInt64LE(0) !== BigInt(headerBytes.length - 8)) {
    throw corrupt(`${file.path}: the stored safetensors header's length prefix does not match its ${headerBytes.length} bytes`);
  }
  try {
    return parseSafetensorsHeader(headerBytes.subarray(8), file.size);
  } catch (err) {
    throw corrupt(`${file.path}: the stored safetensors header is invalid: ${(err as Error).message}`, err);
  }
}
