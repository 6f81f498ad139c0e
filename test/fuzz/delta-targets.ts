import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { expect } from "vitest";
import { applyDelta } from "../../agent/delta/apply-delta.js";
import { rebuildCopyAdd } from "../../agent/delta/copy-add.js";
import { writeSafetensors } from "../../packaging/example-service/safetensors.js";
import { buildDelta } from "../../publisher/delta/build-delta.js";
import { DELTA_PREFIX_BYTES, type DeltaHeader } from "../../shared/delta-format.js";
import { EdgeError, type ErrorCode } from "../../shared/errors.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { deltaFolders, joinDelta, payloadOf, relocatedTable, splitDelta } from "../helpers/delta-craft.js";
import {
  acceptsOrRefuses,
  applyDamage,
  type Damage,
  damageArbitrary,
  defineTarget,
  type FuzzTarget,
  hostileJsonValue,
  memberPaths,
  withMember,
} from "./fuzz.js";

/**
 * Fuzz targets for the delta: the prefix and compressed header, the header's
 * JSON after decompression, the data section (brotli blobs, bsdiff patches,
 * tensor planes) and the copy-add streams on their own.
 */
const APPLY_CODES: ErrorCode[] = [
  "BUNDLE_CORRUPT",
  "BUNDLE_TRUNCATED",
  "PATH_UNSAFE",
  "ENTRY_UNEXPECTED",
  "ENTRY_MISSING",
  "SIZE_MISMATCH",
  "DIGEST_MISMATCH",
  "DELTA_BASE_MISMATCH",
];

interface DeltaWorld {
  root: string;
  baseDir: string;
  bytes: Buffer;
  targetFiles: PayloadFile[];
  baseListing: string[];
}

let world: Promise<DeltaWorld> | undefined;
/** A small delta using every operation: tensors, copy-add and bsdiff windows, a new file. */
function deltaWorld(): Promise<DeltaWorld> {
  world ??= (async () => {
    const { root, baseDir, targetDir } = await deltaFolders("edgepull-fuzz-delta-");
    const a = Float32Array.from({ length: 2048 }, (_, i) => Math.sin(i) * 0.02);
    await writeSafetensors(join(baseDir, "m.safetensors"), { w: { dtype: "F32", shape: [2048], data: a } });
    await writeSafetensors(join(targetDir, "m.safetensors"), {
      w: { dtype: "F32", shape: [2048], data: a.map((x) => x * 1.001) },
    });
    const text = (tag: string) => Array.from({ length: 900 }, (_, i) => `line ${i} ${i % 50 === 0 ? tag : ""}`).join("\n");
    await writeFile(join(baseDir, "notes.txt"), text("old"));
    await writeFile(join(targetDir, "notes.txt"), text("new"));
    await writeFile(join(baseDir, "table.bin"), relocatedTable(8192, false));
    await writeFile(join(targetDir, "table.bin"), relocatedTable(8192, true));
    await writeFile(join(targetDir, "new.txt"), "brand new");
    const basePaths = ["m.safetensors", "notes.txt", "table.bin"];
    const targetFiles = await payloadOf(targetDir, ["m.safetensors", "new.txt", "notes.txt", "table.bin"]);
    const outPath = join(root, "good.delta");
    await buildDelta({
      baseDir,
      targetDir,
      baseFiles: await payloadOf(baseDir, basePaths),
      targetFiles,
      outPath,
      windowBytes: 4096,
      chunkBytes: 4096,
    });
    return { root, baseDir, bytes: await readFile(outPath), targetFiles, baseListing: basePaths };
  })();
  return world;
}

let cases = 0;
/** Applies `bytes`; success or a specific refusal, writing nowhere but its destination, the base only read. */
async function applyChecked(bytes: Buffer): Promise<void> {
  const w = await deltaWorld();
  const dir = join(w.root, `case-${++cases}`);
  await mkdir(join(dir, "tmp"), { recursive: true });
  await writeFile(join(dir, "d.epdelta"), bytes);
  try {
    await acceptsOrRefuses(
      () =>
        applyDelta({
          deltaPath: join(dir, "d.epdelta"),
          baseDir: w.baseDir,
          destDir: join(dir, "dest"),
          expectedFiles: w.targetFiles,
          tempDir: join(dir, "tmp"),
        }),
      APPLY_CODES,
    );
    expect((await readdir(dir)).filter((n) => n !== "dest").sort()).toEqual(["d.epdelta", "tmp"]);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    expect((await readdir(w.baseDir)).sort()).toEqual(w.baseListing);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface HeaderEdit {
  edits: [number, unknown][];
}

export const deltaTargets: FuzzTarget<unknown>[] = [
  defineTarget<Damage>({
    name: "delta-prefix-and-header",
    arbitrary: () => damageArbitrary(4),
    quickRuns: 40,
    weight: 0.25,
    check: async (damage) => {
      const { bytes } = await deltaWorld();
      await applyChecked(applyDamage(bytes, damage, [0, DELTA_PREFIX_BYTES + bytes.readUInt32LE(8)]));
    },
  }),
  defineTarget<Damage>({
    name: "delta-data-section",
    arbitrary: () => damageArbitrary(6),
    quickRuns: 40,
    weight: 0.25,
    check: async (damage) => {
      const { bytes } = await deltaWorld();
      await applyChecked(
        applyDamage(bytes, { ...damage, insert: null, cut: null }, [DELTA_PREFIX_BYTES + bytes.readUInt32LE(8), bytes.length]),
      );
    },
  }),
  defineTarget<HeaderEdit>({
    name: "delta-header-json",
    arbitrary: () =>
      fc.record({
        edits: fc.array(fc.tuple(fc.nat(), fc.oneof(hostileJsonValue(), fc.constant(undefined))), { minLength: 1, maxLength: 3 }),
      }),
    quickRuns: 30,
    weight: 0.25,
    check: async ({ edits }) => {
      const { header, data } = splitDelta((await deltaWorld()).bytes);
      const paths = memberPaths(header);
      let edited: DeltaHeader = header;
      for (const [at, value] of edits) edited = withMember(edited, paths[at % paths.length] as string, value);
      let bytes: Buffer;
      try {
        bytes = await joinDelta(edited, data);
      } catch {
        return; // canonical JSON cannot write it: no delta file to read
      }
      await applyChecked(bytes);
    },
  }),
  defineTarget<{ base: Uint8Array; instructions: Uint8Array; offsets: Uint8Array; literals: Uint8Array; length: number }>({
    name: "copy-add-streams",
    arbitrary: () =>
      fc.record({
        base: fc.uint8Array({ maxLength: 64 }),
        instructions: fc.uint8Array({ maxLength: 24 }),
        offsets: fc.uint8Array({ maxLength: 12 }),
        literals: fc.uint8Array({ maxLength: 64 }),
        length: fc.nat({ max: 256 }),
      }),
    quickRuns: 500,
    check: (s) => {
      const streams = {
        instructions: Buffer.from(s.instructions),
        offsets: Buffer.from(s.offsets),
        literals: Buffer.from(s.literals),
      };
      try {
        expect(rebuildCopyAdd(Buffer.from(s.base), streams, s.length, "w").length).toBe(s.length);
      } catch (err) {
        if (!(err instanceof EdgeError) || err.code !== "BUNDLE_CORRUPT") throw err;
      }
    },
  }),
];
