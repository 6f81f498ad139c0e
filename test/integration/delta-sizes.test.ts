import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyDelta } from "../../agent/delta/apply-delta.js";
import { gaussian, normalWeights } from "../../bench/weights.js";
import { writeSafetensors } from "../../packaging/example-service/safetensors.js";
import { buildDelta } from "../../publisher/delta/build-delta.js";
import { sha256File } from "../../shared/digest.js";
import type { PayloadFile } from "../../shared/manifest.js";

/** 16 MiB of float32 weights in eight tensors; normal with std 0.02, as trained weights roughly are. */
const TENSORS = 8;
const ELEMENTS = 512 * 1024;

const baseWeights = Array.from({ length: TENSORS }, (_, t) => normalWeights(ELEMENTS, t + 1, 0.02));

/** A fine-tune step: a relative nudge of about 0.1 % of the weights' spread. */
function tuned(w: Float32Array, seed: number): Float32Array {
  const r = gaussian(seed);
  return w.map((x) => x + r() * 2e-5);
}

let root: string;

async function model(name: string, weights: Float32Array[]): Promise<{ dir: string; files: PayloadFile[] }> {
  const dir = join(root, name);
  await mkdir(dir);
  await writeSafetensors(
    join(dir, "model.safetensors"),
    Object.fromEntries(weights.map((w, i) => [`layers.${i}.weight`, { dtype: "F32" as const, shape: [512, 1024], data: w }])),
  );
  return { dir, files: [{ path: "model.safetensors", mode: 0o644, ...(await sha256File(join(dir, "model.safetensors"))) }] };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-delta-sizes-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function measure(name: string, weights: Float32Array[]): Promise<number> {
  const base = await model(`${name}-base`, baseWeights);
  const target = await model(`${name}-target`, weights);
  const outPath = join(root, `${name}.delta`);
  const built = await buildDelta({
    baseDir: base.dir,
    targetDir: target.dir,
    baseFiles: base.files,
    targetFiles: target.files,
    outPath,
  });
  const dest = join(root, `${name}-dest`);
  await applyDelta({ deltaPath: outPath, baseDir: base.dir, destDir: dest, expectedFiles: target.files });
  expect((await sha256File(join(dest, "model.safetensors"))).sha256).toBe(target.files[0]?.sha256);
  const ratio = built.size / (target.files[0]?.size ?? 1);
  console.log(`delta size, ${name}: ${built.size} bytes, ${(ratio * 100).toFixed(1)} % of the 16 MiB target`);
  return ratio;
}

describe("delta sizes on a 16 MiB float32 model", () => {
  it("head-only fine-tune (one tensor of eight): well under a tenth of the new file", async () => {
    const weights = baseWeights.map((w, i) => (i === TENSORS - 1 ? tuned(w, 99) : w));
    expect(await measure("head", weights)).toBeLessThan(0.1);
  });

  it("full fine-tune (every tensor): at most 70 % of the new file, the issue's target", async () => {
    expect(
      await measure(
        "full",
        baseWeights.map((w, i) => tuned(w, 200 + i)),
      ),
    ).toBeLessThan(0.7);
  });
});
