import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ReverseProxy } from "../../agent/proxy/reverse-proxy.js";
import { waitForReady } from "../../agent/service/health.js";
import { type ExampleModelOptions, seededRandom, writeExampleModel } from "../../packaging/example-service/make-model.js";
import { predictLoad } from "../helpers/predict-load.js";
import { EXAMPLE_SERVICE, freePort, LoggedProcess } from "../helpers/processes.js";
import { predictShadowOptions } from "../helpers/shadow-options.js";

/**
 * The example inference service as serving version and candidate, behind the
 * real proxy: a light fine-tune of the same weights (`perturb`) passes the
 * shadow comparison on `label` and `scores`, weights from another seed do not.
 */
let root: string;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-shadow-example-"));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const OPTIONS = predictShadowOptions({ minSamples: 40, minAgreement: 0.9, maxScoreDiffP95: 0.02, maxDurationSeconds: 60 });

async function service(name: string, model: ExampleModelOptions) {
  const dir = join(root, name);
  await writeExampleModel(dir, model);
  const port = await freePort();
  const proc = new LoggedProcess(EXAMPLE_SERVICE, [], { PORT: String(port), EDGEPULL_MODEL_DIR: dir });
  cleanups.push(() => proc.stop());
  await waitForReady({ url: `http://127.0.0.1:${port}/ready`, timeoutMs: 10_000, intervalMs: 50 });
  return { version: model.version, host: "127.0.0.1", port };
}

async function proxyFor(serving: { version: string; host: string; port: number }) {
  const proxy = new ReverseProxy({ requestTimeoutMs: 5000 });
  const { port } = await proxy.listen(0, "127.0.0.1");
  cleanups.push(() => proxy.close());
  proxy.setBackend(serving);
  return { proxy, port };
}

/** Eight features in [-1, 1) from a fixed stream, so each run asks the same questions. */
function exampleInputs(): (i: number) => string {
  const random = seededRandom(42);
  return () => JSON.stringify({ input: Array.from({ length: 8 }, () => Math.round((random() * 2 - 1) * 1000) / 1000) });
}

describe("shadow comparison of example-service versions", () => {
  it.each([
    ["a light fine-tune of the same weights agrees", { seed: 1, perturb: 0.002 }, true],
    ["weights from another seed disagree on labels", { seed: 2 }, false],
  ] as const)("%s", async (_name, candidateModel, agrees) => {
    const serving = await service("serving", { version: "1.0.0", seed: 1 });
    const candidate = await service("candidate", { version: "1.1.0", ...candidateModel });
    const { proxy, port } = await proxyFor(serving);
    const load = predictLoad(port, exampleInputs());
    const verdict = await proxy.startShadow(candidate, OPTIONS).verdict();
    await load.stop();

    expect(load.failures).toEqual([]);
    expect(load.answers.every((a) => a.status === 200 && a.version === "1.0.0")).toBe(true);
    expect(verdict.figures.samples).toBe(40);
    if (agrees) {
      expect(verdict.ok, verdict.ok ? "" : verdict.error.message).toBe(true);
      expect(verdict.figures.agreement).toBeGreaterThanOrEqual(0.9);
      expect(verdict.figures.scoreDiffP95).toBeGreaterThan(0);
      expect(verdict.figures.scoreDiffP95).toBeLessThanOrEqual(0.02);
    } else {
      expect(verdict.ok).toBe(false);
      if (verdict.ok) return;
      expect(verdict.error.code).toBe("SHADOW_MISMATCH");
      expect(verdict.error.message).toMatch(
        /^shadow comparison of 1\.1\.0 with 1\.0\.0: agreement 0\.\d+ below minAgreement 0\.9/,
      );
      expect(verdict.error.message).toMatch(/scoreDiffP95 0\.\d+ above maxScoreDiffP95 0\.02 \(scores\)/);
    }
  });
});
