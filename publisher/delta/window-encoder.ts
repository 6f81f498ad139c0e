import type { FileHandle } from "node:fs/promises";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CopyAddStreams, type DeltaWindow, pieceCount, pieceRange } from "../../shared/delta-format.js";
import { bsdiffFiles } from "./bsdiff.js";
import { encodeCopyAdd } from "./copy-add-encoder.js";
import { type DataSink, type Packed, pack } from "./data-sink.js";
import { readRange } from "./read-range.js";

export interface WindowEncoding {
  windows: DeltaWindow[];
  /** What the windows cost in the data section. */
  bytes: number;
  /** What the windows would cost as compressed data: the bar a patch has to beat. */
  fullEstimate: number;
}

type Choice =
  | { op: "data"; bytes: number }
  | { op: "copy-add"; bytes: number; streams: CopyAddStreams<Packed> }
  | { op: "bsdiff"; bytes: number; patch: Buffer };

/**
 * Cuts the target into windows and encodes each against the same range of
 * the base, as the smallest of a BSDIFF40 patch, copy-add streams and the
 * compressed window: memory (bsdiff's is about 17x its input) stays bounded
 * by the window, and an unchanged window costs nothing.
 */
export async function encodeWindows(opts: {
  base: FileHandle;
  baseSize: number;
  target: FileHandle;
  targetSize: number;
  windowBytes: number;
  sink: DataSink;
  tempDir: string;
  label: string;
  /** Target bytes encoded so far, for a progress bar. */
  onBytes?: (n: number) => void;
}): Promise<WindowEncoding> {
  const { base, baseSize, target, targetSize, windowBytes, sink, tempDir, label, onBytes } = opts;
  const windows: DeltaWindow[] = [];
  const start = sink.length;
  let fullEstimate = 0;
  const paths = { old: join(tempDir, "window.old"), new: join(tempDir, "window.new"), patch: join(tempDir, "window.patch") };
  for (let i = 0; i < pieceCount(targetSize, windowBytes); i++) {
    const [begin, end] = pieceRange(i, windowBytes, targetSize);
    const next = await readRange(target, begin, end, `${label} target`);
    const old = begin < baseSize ? await readRange(base, begin, Math.min(end, baseSize), `${label} base`) : Buffer.alloc(0);
    const dataSize = await sink.bestSize(next);
    fullEstimate += dataSize;
    onBytes?.(next.length);
    if (old.equals(next)) {
      windows.push({ op: "copy" });
      continue;
    }
    // Ties go to the simpler op: data, then copy-add, then bsdiff. bsdiff runs first and frees its memory
    // (about 17x the window) before the matcher's tables are allocated: the peak is the larger of the two.
    const patch = old.length > 0 ? await bsdiffWindow(old, next, paths) : undefined;
    let best: Choice = { op: "data", bytes: dataSize };
    const copyAdd = await copyAddChoice(old, next);
    if (copyAdd && copyAdd.bytes < best.bytes) best = copyAdd;
    if (patch && patch.length < best.bytes) best = { op: "bsdiff", bytes: patch.length, patch };
    if (best.op === "bsdiff") windows.push({ op: "bsdiff", patch: await sink.appendRaw(best.patch) });
    else if (best.op === "copy-add") {
      const { instructions, offsets, literals } = best.streams;
      windows.push({
        op: "copy-add",
        instructions: await sink.appendPacked(instructions),
        offsets: await sink.appendPacked(offsets),
        literals: await sink.appendPacked(literals),
      });
    } else windows.push({ op: "data", data: await sink.appendBest(next) });
  }
  await Promise.all(Object.values(paths).map((p) => rm(p, { force: true })));
  return { windows, bytes: sink.length - start, fullEstimate };
}

/** The copy-add encoding of a window, unless its streams would not fit the format's bound (the window's length). */
async function copyAddChoice(old: Buffer, next: Buffer): Promise<Choice | undefined> {
  const raw = await encodeCopyAdd(old, next);
  // Nothing copied: the streams can only cost more than the window as data.
  if (raw.literals.length === next.length) return undefined;
  if (raw.instructions.length + raw.offsets.length + raw.literals.length > next.length) return undefined;
  const streams = {
    instructions: await pack(raw.instructions),
    offsets: await pack(raw.offsets),
    literals: await pack(raw.literals),
  };
  const bytes = streams.instructions.stored.length + streams.offsets.stored.length + streams.literals.stored.length;
  return { op: "copy-add", bytes, streams };
}

async function bsdiffWindow(old: Buffer, next: Buffer, paths: { old: string; new: string; patch: string }): Promise<Buffer> {
  await writeFile(paths.old, old);
  await writeFile(paths.new, next);
  await rm(paths.patch, { force: true });
  await bsdiffFiles(paths.old, paths.new, paths.patch);
  return readFile(paths.patch);
}
