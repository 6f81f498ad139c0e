import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDelta } from "../../publisher/delta/build-delta.js";
import { type DeltaHeader, pieceRange } from "../../shared/delta-format.js";
import { sha256File } from "../../shared/digest.js";
import { fileOf, relocatedTable, splitDelta } from "../helpers/delta-craft.js";

const run = promisify(execFile);

async function has(tool: string): Promise<boolean> {
  try {
    await run("sh", ["-c", `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

const haveBspatch = await has("bspatch");
const haveBsdiff = await has("bsdiff");
const WINDOW = 32 * 1024;

let root: string;
let base: Buffer;
let target: Buffer;
let header: DeltaHeader;
let data: Buffer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-delta-interop-"));
  // Moved pointers in a binary table: the kind of change where a bsdiff patch is the smallest window encoding.
  base = relocatedTable(3 * WINDOW, false);
  target = relocatedTable(3 * WINDOW, true);
  await writeFile(join(root, "base.bin"), base);
  await writeFile(join(root, "target.bin"), target);
  const file = (name: string) => sha256File(join(root, name)).then((d) => ({ path: "f.bin", mode: 0o644, ...d }));
  const baseDir = join(root, "b");
  const targetDir = join(root, "t");
  await Promise.all([mkdir(baseDir), mkdir(targetDir)]);
  await writeFile(join(baseDir, "f.bin"), base);
  await writeFile(join(targetDir, "f.bin"), target);
  await buildDelta({
    baseDir,
    targetDir,
    baseFiles: [await file("base.bin")],
    targetFiles: [await file("target.bin")],
    outPath: join(root, "d.delta"),
    windowBytes: WINDOW,
  });
  ({ header, data } = splitDelta(await readFile(join(root, "d.delta"))));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function firstPatchWindow(): { index: number; patch: Buffer } {
  const file = fileOf(header, "windows", "f.bin");
  const index = file.windows.findIndex((w) => w.op === "bsdiff");
  const w = file.windows[index];
  if (w?.op !== "bsdiff") throw new Error("no bsdiff window in the delta");
  return { index, patch: data.subarray(w.patch.at, w.patch.at + w.patch.len) };
}

describe("bsdiff windows interoperate with Debian's bsdiff package", () => {
  it.skipIf(!haveBspatch)("Debian's bspatch applies a window patch from the delta to the target window", async () => {
    const { index, patch } = firstPatchWindow();
    const [begin, end] = pieceRange(index, WINDOW, target.length);
    await writeFile(join(root, "old.win"), base.subarray(begin, Math.min(end, base.length)));
    await writeFile(join(root, "win.patch"), patch);
    await run("bspatch", [join(root, "old.win"), join(root, "new.win"), join(root, "win.patch")]);
    expect((await readFile(join(root, "new.win"))).equals(target.subarray(begin, end))).toBe(true);
  });

  it.skipIf(!haveBsdiff)("Debian's bsdiff makes the very same window patch (BSDIFF40 byte for byte)", async () => {
    const { index, patch } = firstPatchWindow();
    const [begin, end] = pieceRange(index, WINDOW, target.length);
    await writeFile(join(root, "old2.win"), base.subarray(begin, Math.min(end, base.length)));
    await writeFile(join(root, "new2.win"), target.subarray(begin, end));
    await run("bsdiff", [join(root, "old2.win"), join(root, "new2.win"), join(root, "debian.patch")]);
    expect((await readFile(join(root, "debian.patch"))).equals(patch)).toBe(true);
  });
});
