import type { FileHandle } from "node:fs/promises";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type DeltaWindow, pieceCount, pieceRange } from "../../shared/delta-format.js";
import { bsdiffFiles } from "./bsdiff.js";
import type { DataSink } from "./data-sink.js";
import { readRange } from "./read-range.js";

export interface WindowEncoding {
  windows: DeltaWindow[];
  /** What the windows cost in the data section. */
  bytes: number;
  /** What the windows would cost as compressed data: the bar a patch has to beat. */
  fullEstimate: number;
}

/**
 * Cuts the target into windows and patches each against the same range of the
 * base: bsdiff's memory (about 17x its input) stays bounded by the window, and
 * an unchanged window costs nothing.
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
  const oldPath = join(tempDir, "window.old");
  const newPath = join(tempDir, "window.new");
  const patchPath = join(tempDir, "window.patch");
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
    let patch: Buffer | undefined;
    if (old.length > 0) {
      await writeFile(oldPath, old);
      await writeFile(newPath, next);
      await rm(patchPath, { force: true });
      await bsdiffFiles(oldPath, newPath, patchPath);
      patch = await readFile(patchPath);
    }
    if (patch && patch.length < dataSize) windows.push({ op: "bsdiff", patch: await sink.appendRaw(patch) });
    else windows.push({ op: "data", data: await sink.appendBest(next) });
  }
  await Promise.all([oldPath, newPath, patchPath].map((p) => rm(p, { force: true })));
  return { windows, bytes: sink.length - start, fullEstimate };
}
