import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyDelta } from "../../agent/delta/apply-delta.js";
import { gaussian, normalWeights } from "../../bench/weights.js";
import { type TensorToWrite, writeSafetensors } from "../../packaging/example-service/safetensors.js";
import { buildDelta } from "../../publisher/delta/build-delta.js";
import { sha256File } from "../../shared/digest.js";
import type { PayloadFile } from "../../shared/manifest.js";

type Weights = Record<string, Float32Array>;

function makeWeights(seed: number, shapes: Record<string, [number, number]>): Weights {
  const out: Weights = {};
  for (const [i, [name, [r, c]]] of Object.entries(shapes).entries()) out[name] = normalWeights(r * c, seed * 1000 + i, 0.02);
  return out;
}

function nudge(w: Float32Array, seed: number, scale: number): Float32Array {
  const rand = gaussian(seed);
  return w.map((x) => x + rand() * scale);
}

const SHAPES: Record<string, [number, number]> = {
  "embed.weight": [512, 512],
  "layers.0.weight": [512, 512],
  "layers.2.weight": [512, 512],
  "lm_head.weight": [512, 256],
};

async function writeModel(dir: string, weights: Weights, dtype: "F32" | "I8" = "F32"): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, w] of Object.entries(weights)) {
    const shape = SHAPES[name] ?? [w.length / 512, 512];
    tensors[name] =
      dtype === "F32"
        ? { dtype, shape, data: w }
        : { dtype, shape, data: Uint8Array.from(w, (x) => Math.round(x * 3000) & 0xff) };
  }
  await writeSafetensors(join(dir, "model.safetensors"), tensors);
}

async function listPayload(dir: string): Promise<PayloadFile[]> {
  const out: PayloadFile[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const path = full.slice(dir.length + 1);
    const { sha256, size } = await sha256File(full);
    const mode = (await stat(full)).mode & 0o100 ? 0o755 : 0o644;
    out.push({ path, size, sha256, mode });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** A generic text file of ~200 KiB with edits in the middle and growth at the end: several bsdiff windows. */
function vocab(edited: boolean): string {
  const lines = Array.from({ length: 20000 }, (_, i) => `token_${i}\t${(i * 7919) % 100003}`);
  if (edited) {
    lines[10000] = "token_changed\t1";
    for (let i = 0; i < 3000; i++) lines.push(`added_${i}\t${i}`);
  }
  return `${lines.join("\n")}\n`;
}

let root: string;
let base: string;
const baseWeights = makeWeights(1, SHAPES);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-delta-rt-"));
  base = join(root, "base");
  await mkdir(join(base, "sub"), { recursive: true });
  await writeModel(base, baseWeights);
  await writeFile(join(base, "config.json"), '{"hidden":512}\n');
  await writeFile(join(base, "old.txt"), "removed in the target\n");
  await writeFile(join(base, "sub", "vocab.txt"), vocab(false));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function roundTrip(name: string, makeTarget: (dir: string) => Promise<void>) {
  const target = join(root, `${name}-target`);
  await mkdir(join(target, "sub"), { recursive: true });
  await writeFile(join(target, "config.json"), '{"hidden":512}\n');
  await writeFile(join(target, "sub", "vocab.txt"), vocab(false));
  await makeTarget(target);
  const [baseFiles, targetFiles] = [await listPayload(base), await listPayload(target)];
  const outPath = join(root, `${name}.delta`);
  const built = await buildDelta({
    baseDir: base,
    targetDir: target,
    baseFiles,
    targetFiles,
    outPath,
    windowBytes: 64 * 1024,
    chunkBytes: 256 * 1024,
  });
  expect(built.size).toBe((await stat(outPath)).size);
  expect(built.sha256).toBe((await sha256File(outPath)).sha256);
  const dest = join(root, `${name}-dest`);
  const applied = await applyDelta({ deltaPath: outPath, baseDir: base, destDir: dest, expectedFiles: targetFiles });
  expect(applied.files).toBe(targetFiles.length);
  expect(await listPayload(dest)).toEqual(targetFiles);
  for (const f of targetFiles)
    expect((await readFile(join(dest, f.path))).equals(await readFile(join(target, f.path)))).toBe(true);
  const modelSize = targetFiles.find((f) => f.path === "model.safetensors")?.size ?? 1;
  const ops = Object.fromEntries(built.perFile.map((f) => [f.path, f.op]));
  const modelBytes = built.perFile.find((f) => f.path === "model.safetensors")?.deltaBytes ?? 0;
  return { built, ops, ratio: modelBytes / modelSize, outPath, target, targetFiles };
}

describe("delta round trips on generated safetensors pairs", () => {
  it("head-only fine-tune: unchanged tensors cost nothing, the head is XOR planes", async () => {
    const { ops, ratio, built } = await roundTrip("head", (dir) =>
      writeModel(dir, { ...baseWeights, "lm_head.weight": nudge(baseWeights["lm_head.weight"]!, 7, 2e-5) }),
    );
    expect(ops).toEqual({ "config.json": "same", "model.safetensors": "tensors", "sub/vocab.txt": "same" });
    // The head is an eighth of the model; its XOR planes a fraction of that.
    expect(ratio).toBeLessThan(0.1);
    expect(built.perFile.find((f) => f.path === "config.json")?.deltaBytes).toBe(0);
  });

  it("a tensor inserted in the middle shifts nothing", async () => {
    const extra = makeWeights(9, { "layers.1.weight": [512, 128] });
    const { ratio } = await roundTrip("insert", (dir) => writeModel(dir, { ...baseWeights, ...extra }));
    const inserted = 512 * 128 * 4;
    // Only the new tensor (nearly incompressible) and the header.
    expect(ratio * (3 * 512 * 512 * 4 + 512 * 256 * 4 + inserted)).toBeLessThan(inserted * 1.05);
  });

  it("full fine-tune: every tensor changed, still well under the new file", async () => {
    const tuned = Object.fromEntries(Object.entries(baseWeights).map(([n, w], i) => [n, nudge(w, 100 + i, 2e-5)]));
    const { ratio } = await roundTrip("full-ft", (dir) => writeModel(dir, tuned));
    expect(ratio).toBeLessThan(0.75);
  });

  it("float32 to int8 quantisation: no tensor can use its base, so the file is carried in full", async () => {
    const { ops, ratio } = await roundTrip("quant", (dir) => writeModel(dir, baseWeights, "I8"));
    expect(ops["model.safetensors"]).toBe("full");
    expect(ratio).toBeGreaterThan(0.5);
  });

  it("quantising all but one tensor still uses the tensor codec, with the changed dtypes in full", async () => {
    const target = await roundTrip("quant-partial", async (dir) => {
      const tensors: Record<string, TensorToWrite> = {};
      for (const [name, w] of Object.entries(baseWeights)) {
        const shape = SHAPES[name] as [number, number];
        tensors[name] =
          name === "lm_head.weight"
            ? { dtype: "F32", shape, data: w }
            : { dtype: "I8", shape, data: Uint8Array.from(w, (x) => Math.round(x * 3000) & 0xff) };
      }
      await writeSafetensors(join(dir, "model.safetensors"), tensors);
    });
    expect(target.ops["model.safetensors"]).toBe("tensors");
  });

  it("a new file, a removed file, a changed generic file in windows", async () => {
    const { ops } = await roundTrip("files", async (dir) => {
      await writeModel(dir, baseWeights);
      await writeFile(join(dir, "tokenizer.json"), JSON.stringify({ vocab: Array.from({ length: 500 }, (_, i) => `t${i}`) }));
      await writeFile(join(dir, "sub", "vocab.txt"), vocab(true));
      await writeFile(join(dir, "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
    });
    expect(ops).toEqual({
      "config.json": "same",
      "model.safetensors": "same",
      "run.sh": "full",
      "sub/vocab.txt": "windows",
      "tokenizer.json": "full",
    });
    expect((await stat(join(root, "files-dest", "run.sh"))).mode & 0o777).toBe(0o755);
  });

  it("is deterministic: the same inputs give the same delta bytes", async () => {
    const tuned = { ...baseWeights, "layers.0.weight": nudge(baseWeights["layers.0.weight"]!, 5, 1e-4) };
    const first = await roundTrip("det-a", (dir) => writeModel(dir, tuned));
    const second = await roundTrip("det-b", (dir) => writeModel(dir, tuned));
    expect(second.built.sha256).toBe(first.built.sha256);
    expect((await readFile(second.outPath)).equals(await readFile(first.outPath))).toBe(true);
  });

  it("refuses to write over an existing file in the destination", async () => {
    const { outPath, targetFiles } = await roundTrip("excl", (dir) => writeModel(dir, baseWeights));
    const dest = join(root, "excl-dest-2");
    await mkdir(dirname(join(dest, "config.json")), { recursive: true });
    await writeFile(join(dest, "config.json"), "already here");
    await expect(applyDelta({ deltaPath: outPath, baseDir: base, destDir: dest, expectedFiles: targetFiles })).rejects.toThrow(
      /EEXIST/,
    );
  });
});
