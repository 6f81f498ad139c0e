import type { FileHandle } from "node:fs/promises";
import type { Blob, TensorDelta } from "../../shared/delta-format.js";
import { pieceCount, pieceRange } from "../../shared/delta-format.js";
import type { SafetensorsLayout, TensorLayout } from "../../shared/safetensors-header.js";
import type { DataSink } from "./data-sink.js";
import { readRange } from "./read-range.js";

/**
 * Matches tensors by name, so an inserted or removed tensor shifts nothing.
 * A changed tensor of the same dtype and shape is XORed with its old self and
 * split into byte planes: fine-tuning moves low mantissa bits, so the sign and
 * exponent planes are nearly all zero and compress to almost nothing.
 */
export async function encodeTensors(opts: {
  base: FileHandle;
  baseLayout: SafetensorsLayout;
  target: FileHandle;
  targetLayout: SafetensorsLayout;
  chunkBytes: number;
  sink: DataSink;
  label: string;
  /** Target bytes encoded so far, for a progress bar. */
  onBytes?: (n: number) => void;
}): Promise<TensorDelta[]> {
  const { base, baseLayout, target, targetLayout, chunkBytes, sink, label, onBytes } = opts;
  const baseByName = new Map(baseLayout.tensors.map((t) => [t.name, t]));
  const out: TensorDelta[] = [];
  for (const t of targetLayout.tensors) {
    const old = baseByName.get(t.name);
    const size = t.end - t.begin;
    const targetAt = (i: number) =>
      pieceRange(i, chunkBytes, size).map((x) => targetLayout.dataStart + t.begin + x) as [number, number];
    if (!old || !sameKind(old, t)) {
      const chunks: Blob[] = [];
      for (let i = 0; i < pieceCount(size, chunkBytes); i++) {
        const next = await readRange(target, ...targetAt(i), `${label} tensor ${t.name}`);
        chunks.push(await sink.appendBest(next));
        onBytes?.(next.length);
      }
      out.push({ name: t.name, op: "full", chunks });
      continue;
    }
    const mark = sink.length;
    const chunks: Blob[][] = [];
    let changed = false;
    for (let i = 0; i < pieceCount(size, chunkBytes); i++) {
      const next = await readRange(target, ...targetAt(i), `${label} tensor ${t.name}`);
      const [b, e] = pieceRange(i, chunkBytes, size);
      const prev = await readRange(
        base,
        baseLayout.dataStart + old.begin + b,
        baseLayout.dataStart + old.begin + e,
        `${label} base tensor`,
      );
      if (!next.equals(prev)) changed = true;
      const planes: Blob[] = [];
      for (const plane of xorPlanes(next, prev, t.elementBytes)) planes.push(await sink.appendBest(plane));
      chunks.push(planes);
      onBytes?.(next.length);
    }
    if (changed) {
      out.push({ name: t.name, op: "xor-planes", chunks });
    } else {
      await sink.rewind(mark);
      out.push({ name: t.name, op: "same" });
    }
  }
  return out;
}

function sameKind(a: TensorLayout, b: TensorLayout): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** Plane p holds byte p of every element of (next XOR prev). */
export function xorPlanes(next: Buffer, prev: Buffer, elementBytes: number): Buffer[] {
  const count = next.length / elementBytes;
  const planes = Array.from({ length: elementBytes }, () => Buffer.allocUnsafe(count));
  for (let p = 0; p < elementBytes; p++) {
    const plane = planes[p] as Buffer;
    for (let i = 0, j = p; i < count; i++, j += elementBytes) plane[i] = (next[j] as number) ^ (prev[j] as number);
  }
  return planes;
}
