import type { FileHandle } from "node:fs/promises";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CopyAddStreams, type DeltaFile, type DeltaWindow, pieceCount, pieceRange } from "../../shared/delta-format.js";
import { EdgeError } from "../../shared/errors.js";
import { readBaseRange } from "./base-reader.js";
import { bspatchFiles, checkBsdiffHeader } from "./bspatch.js";
import { rebuildCopyAdd } from "./copy-add.js";
import type { DeltaBlobs } from "./delta-blobs.js";
import type { OutputFile } from "./output-file.js";

type WindowsEntry = Extract<DeltaFile, { op: "windows" }> & { size: number };
type CopyAddWindow = Extract<DeltaWindow, { op: "copy-add" }>;

/**
 * Window by window: bspatch or copy-add holds one base window and one target
 * window (and copy-add its streams, together at most a window), never the file.
 */
export async function rebuildWindows(opts: {
  file: WindowsEntry;
  base: FileHandle;
  blobs: DeltaBlobs;
  windowBytes: number;
  out: OutputFile;
  tempDir: string;
  checkpoint: () => void;
}): Promise<void> {
  const { file, base, blobs, windowBytes, out, tempDir, checkpoint } = opts;
  const count = pieceCount(file.size, windowBytes);
  if (file.windows.length !== count) {
    throw new EdgeError(
      "BUNDLE_CORRUPT",
      `delta: ${file.path} has ${file.windows.length} windows, its ${file.size} bytes need ${count}`,
    );
  }
  const [oldPath, newPath, patchPath] = ["window.old", "window.new", "window.patch"].map((n) => join(tempDir, n)) as [
    string,
    string,
    string,
  ];
  try {
    for (const [i, window] of file.windows.entries()) {
      checkpoint();
      const [begin, end] = pieceRange(i, windowBytes, file.size);
      const where = `${file.path} window ${i}`;
      const baseWindow = () =>
        readBaseRange(base, file.base.size, Math.min(begin, file.base.size), Math.min(end, file.base.size), where);
      if (window.op === "copy") {
        await out.write(await readBaseRange(base, file.base.size, begin, end, where));
      } else if (window.op === "copy-add") {
        const streams = await decodeStreams(window, blobs, end - begin, where);
        await out.write(rebuildCopyAdd(await baseWindow(), streams, end - begin, where));
      } else if (window.op === "data") {
        await out.write(await blobs.decode(window.data, end - begin, where));
      } else {
        const patch = await blobs.readRawBelow(window.patch, end - begin, where);
        checkBsdiffHeader(patch, end - begin, where);
        await writeFile(oldPath, await baseWindow());
        await writeFile(patchPath, patch);
        await rm(newPath, { force: true });
        await bspatchFiles(oldPath, newPath, patchPath, where);
        const rebuilt = await readFile(newPath);
        if (rebuilt.length !== end - begin) {
          throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} patched to ${rebuilt.length} bytes, expected ${end - begin}`);
        }
        await out.write(rebuilt);
      }
    }
  } finally {
    await Promise.all([oldPath, newPath, patchPath].map((p) => rm(p, { force: true })));
  }
}

/** The three streams, their announced sizes checked against the window before any is decoded. */
async function decodeStreams(
  window: CopyAddWindow,
  blobs: DeltaBlobs,
  length: number,
  where: string,
): Promise<CopyAddStreams<Buffer>> {
  const { instructions, offsets, literals } = window;
  const total = instructions.size + offsets.size + literals.size;
  if (total > length) {
    throw new EdgeError(
      "BUNDLE_CORRUPT",
      `delta: ${where} announces ${total} bytes of copy-add streams for a ${length}-byte window`,
    );
  }
  return {
    instructions: await blobs.decode(instructions, instructions.size, `${where} instructions`),
    offsets: await blobs.decode(offsets, offsets.size, `${where} offsets`),
    literals: await blobs.decode(literals, literals.size, `${where} literals`),
  };
}
