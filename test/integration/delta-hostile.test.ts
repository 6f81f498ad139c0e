import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyDelta } from "../../agent/delta/apply-delta.js";
import { writeSafetensors } from "../../packaging/example-service/safetensors.js";
import { buildDelta } from "../../publisher/delta/build-delta.js";
import type { DeltaFile, DeltaHeader } from "../../shared/delta-format.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { deltaFolders, fileOf, joinDelta, payloadOf, relocatedTable, splitDelta } from "../helpers/delta-craft.js";

let root: string;
let baseDir: string;
let targetDir: string;
let deltaBytes: Buffer;
let targetFiles: PayloadFile[];

function floats(n: number, seed: number): Float32Array {
  let s = seed;
  // Random mantissas, exponents of weights near 0.01: XOR planes differ in how well they compress.
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * 0.02;
  });
}

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `line ${i} ${i % 97 === 0 ? tag : ""}`).join("\n");

beforeAll(async () => {
  ({ root, baseDir, targetDir } = await deltaFolders("edgepull-delta-hostile-"));
  const a = floats(65536, 1);
  const b = a.map((x) => x * 1.001);
  await writeSafetensors(join(baseDir, "model.safetensors"), { w: { dtype: "F32", shape: [256, 256], data: a } });
  await writeSafetensors(join(targetDir, "model.safetensors"), { w: { dtype: "F32", shape: [256, 256], data: b } });
  await writeFile(join(baseDir, "notes.txt"), lines(4000, "old"));
  await writeFile(join(targetDir, "notes.txt"), `${lines(4000, "new")}\n${lines(2000, "tail")}`);
  await writeFile(join(baseDir, "table.bin"), relocatedTable(64 * 1024, false));
  await writeFile(join(targetDir, "table.bin"), relocatedTable(64 * 1024, true));
  const paths = ["model.safetensors", "notes.txt", "table.bin"];
  targetFiles = await payloadOf(targetDir, paths);
  const outPath = join(root, "good.delta");
  await buildDelta({
    baseDir,
    targetDir,
    baseFiles: await payloadOf(baseDir, paths),
    targetFiles,
    outPath,
    windowBytes: 16384,
    chunkBytes: 65536,
  });
  deltaBytes = await readFile(outPath);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A delta whose only file is unchanged (op same). */
async function unchangedOnly(): Promise<{ base: string; delta: string; files: PayloadFile[] }> {
  const base = join(root, "same-base");
  await mkdir(base);
  await writeFile(join(base, "config.json"), '{"a":1}');
  const files = await payloadOf(base, ["config.json"]);
  const delta = join(root, "same.delta");
  const built = await buildDelta({ baseDir: base, targetDir: base, baseFiles: files, targetFiles: files, outPath: delta });
  expect(built.perFile.map((f) => f.op)).toEqual(["same"]);
  return { base, delta, files };
}

let counter = 0;
/** Applies a tampered delta into a fresh destination; returns the destination. */
async function applyTampered(
  edit: (header: DeltaHeader, data: Buffer) => Buffer | undefined,
  opts: { expected?: PayloadFile[]; signal?: AbortSignal } = {},
) {
  const { header, data } = splitDelta(Buffer.from(deltaBytes));
  const newData = edit(header, data) ?? data;
  const deltaPath = join(root, `tampered-${++counter}.delta`);
  await writeFile(deltaPath, await joinDelta(header, newData));
  const destDir = join(root, `dest-${counter}`);
  const run = applyDelta({
    deltaPath,
    baseDir,
    destDir,
    expectedFiles: opts.expected ?? targetFiles,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { run, destDir };
}

describe("applyDelta refuses hostile or mismatched deltas", () => {
  it("applies the untampered delta (the fixture is sound), using tensors, copy-add windows and bsdiff windows", async () => {
    const { header } = splitDelta(deltaBytes);
    expect(header.files.map((f) => f.op)).toEqual(["tensors", "windows", "windows"]);
    expect(fileOf(header, "windows", "notes.txt").windows.map((w) => w.op)).toContain("copy-add");
    expect(fileOf(header, "windows", "table.bin").windows.map((w) => w.op)).toContain("bsdiff");
    const { run } = await applyTampered(() => undefined);
    await expect(run).resolves.toEqual({ files: 3, bytes: targetFiles.reduce((n, f) => n + f.size, 0) });
  });

  it("a path that escapes the destination", async () => {
    const { run } = await applyTampered((h) => {
      (h.files[1] as DeltaFile).path = "../escaped.txt";
      return undefined;
    });
    await expect(run).rejects.toMatchObject({ code: "PATH_UNSAFE" });
    await expect(readdir(root)).resolves.not.toContain("escaped.txt");
  });

  it("a blob offset past the end of the data section", async () => {
    const { run } = await applyTampered((h, data) => {
      const w = fileOf(h, "windows", "notes.txt").windows.find((x) => x.op === "copy-add");
      if (w?.op !== "copy-add") throw new Error("expected a copy-add window");
      w.literals.at = data.length;
      return undefined;
    });
    await expect(run).rejects.toMatchObject({
      code: "BUNDLE_CORRUPT",
      message: expect.stringMatching(/outside the data section/),
    });
  });

  it("a corrupted compressed plane", async () => {
    const { run, destDir } = await applyTampered((h, data) => {
      const planes = fileOf(h, "tensors").tensors[0];
      if (planes?.op !== "xor-planes") throw new Error("expected xor-planes");
      const blob = planes.chunks[0]?.find((b) => b.codec === "brotli");
      if (!blob) throw new Error("expected a compressed plane");
      const copy = Buffer.from(data);
      copy.fill(0x5a, blob.at, blob.at + blob.len);
      return copy;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/plane/) });
    // The half-written file is removed.
    await expect(readdir(destDir)).resolves.not.toContain("model.safetensors");
  });

  it("a flipped byte in a raw plane is caught by the rebuilt file's hash", async () => {
    const { run } = await applyTampered((h, data) => {
      const planes = fileOf(h, "tensors").tensors[0];
      if (planes?.op !== "xor-planes") throw new Error("expected xor-planes");
      const blob = planes.chunks[0]?.find((b) => b.codec === "raw" && b.len > 0);
      if (!blob) throw new Error("expected a raw plane");
      const copy = Buffer.from(data);
      copy[blob.at] = (copy[blob.at] as number) ^ 1;
      return copy;
    });
    await expect(run).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
      message: expect.stringMatching(/rebuilt model.safetensors/),
    });
  });

  it("a copy window that reads past the end of the base", async () => {
    const { run } = await applyTampered((h) => {
      const windows = fileOf(h, "windows", "notes.txt").windows;
      windows[windows.length - 1] = { op: "copy" };
      return undefined;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/reads base bytes/) });
  });

  it("a bsdiff patch that lies about its window's size", async () => {
    const { run } = await applyTampered((h, data) => {
      const w = fileOf(h, "windows", "table.bin").windows.find((x) => x.op === "bsdiff");
      if (w?.op !== "bsdiff") throw new Error("expected a bsdiff window");
      const copy = Buffer.from(data);
      copy.writeBigUInt64LE(1n << 40n, w.patch.at + 24);
      return copy;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/announces/) });
  });

  it("a bsdiff patch whose compressed blocks are garbage is refused by bspatch, not fatal to the process", async () => {
    const { run } = await applyTampered((h, data) => {
      const w = fileOf(h, "windows", "table.bin").windows.find((x) => x.op === "bsdiff");
      if (w?.op !== "bsdiff") throw new Error("expected a bsdiff window");
      const copy = Buffer.from(data);
      copy.fill(0xa5, w.patch.at + 32, w.patch.at + w.patch.len);
      return copy;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/does not apply/) });
  });

  it("a tensor entry naming a tensor the target header does not have", async () => {
    const { run } = await applyTampered((h) => {
      const t = fileOf(h, "tensors").tensors[0];
      if (t) t.name = "other";
      return undefined;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT" });
  });

  it("a truncated delta", async () => {
    const { run } = await applyTampered((_h, data) => data.subarray(0, data.length - 10));
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_TRUNCATED" });
  });

  it("a base that is not the one the delta was made from", async () => {
    const other = join(root, "other-base");
    await mkdir(other);
    await writeFile(join(other, "notes.txt"), lines(4000, "different"));
    await writeFile(join(other, "model.safetensors"), await readFile(join(baseDir, "model.safetensors")));
    const run = applyDelta({
      deltaPath: join(root, "good.delta"),
      baseDir: other,
      destDir: join(root, "dest-other"),
      expectedFiles: targetFiles,
    });
    await expect(run).rejects.toMatchObject({
      code: "DELTA_BASE_MISMATCH",
      message: expect.stringMatching(/base mismatch: notes.txt/),
    });
  });

  it("an unchanged file whose base copy differs, or is missing", async () => {
    const same = await unchangedOnly();
    await writeFile(join(same.base, "config.json"), '{"a":2}');
    const changed = applyDelta({
      deltaPath: same.delta,
      baseDir: same.base,
      destDir: join(root, "dest-same-1"),
      expectedFiles: same.files,
    });
    await expect(changed).rejects.toMatchObject({
      code: "DELTA_BASE_MISMATCH",
      message: expect.stringMatching(/base mismatch: config.json/),
    });
    await rm(join(same.base, "config.json"));
    const missing = applyDelta({
      deltaPath: same.delta,
      baseDir: same.base,
      destDir: join(root, "dest-same-2"),
      expectedFiles: same.files,
    });
    await expect(missing).rejects.toMatchObject({
      code: "DELTA_BASE_MISMATCH",
      message: expect.stringMatching(/base mismatch: config.json/),
    });
  });

  it("a delta that does not rebuild the target manifest's files", async () => {
    const extra: PayloadFile = { path: "extra.bin", size: 1, sha256: "0".repeat(64), mode: 0o644 };
    const { run } = await applyTampered(() => undefined, { expected: [...targetFiles, extra] });
    await expect(run).rejects.toMatchObject({ code: "ENTRY_MISSING" });
  });

  it("stops with INTERRUPTED when aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const { run } = await applyTampered(() => undefined, { signal: controller.signal });
    await expect(run).rejects.toMatchObject({ code: "INTERRUPTED" });
  });
});
