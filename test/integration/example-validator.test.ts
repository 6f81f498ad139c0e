import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { REPO_ROOT, runNode } from "../helpers/processes.js";

/** The example validator (dist/packaging/example-service/validate.js) on model folders make-model writes. */
const VALIDATOR = join(REPO_ROOT, "dist", "packaging", "example-service", "validate.js");

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-example-validator-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function model(name: string, opts: Partial<Parameters<typeof writeExampleModel>[1]> = {}): Promise<string> {
  const dir = join(root, name);
  await writeExampleModel(dir, { version: "1.0.0", seed: 42, golden: {}, ...opts });
  return dir;
}

describe("the example validator", () => {
  it("passes a model on its own golden set, and reports agreement with the serving version", async () => {
    const dir = await model("good");
    const serving = await model("serving", { seed: 7 });
    const r = await runNode(VALIDATOR, [], { EDGEPULL_MODEL_DIR: dir, EDGEPULL_ACTIVE_DIR: serving });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("accuracy 1.000 over 32 cases, threshold 0.9: passed");
    expect(r.stdout).toMatch(/agreement with the serving version: \d\.\d{3}/);
  });

  it("fails a degraded model with one line naming its accuracy and the release's threshold", async () => {
    const dir = await model("bad", { degraded: true, golden: { minAccuracy: 0.95 } });
    const r = await runNode(VALIDATOR, [dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^accuracy 0\.\d{3} below threshold 0\.95$/);
  });

  it("fails clearly without a golden set, with a broken threshold, or with a model that does not load", async () => {
    const none = await model("none", { golden: undefined });
    let r = await runNode(VALIDATOR, [none]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no usable golden set");
    expect(r.stderr).toContain("validation/golden.json");

    const odd = await model("odd");
    await chmod(join(odd, "validation"), 0o755);
    await writeFile(join(odd, "validation", "threshold.json"), '{"minAccuracy": 2}');
    r = await runNode(VALIDATOR, [odd]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('validation/threshold.json must be {"minAccuracy": a number from 0 to 1}');

    const broken = await model("broken", { broken: true });
    r = await runNode(VALIDATOR, [broken]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot load the model");
  });

  it("is a usage error without a model folder", async () => {
    const r = await runNode(VALIDATOR, [], { EDGEPULL_MODEL_DIR: "" });
    expect(r.code).toBe(2);
  });
});
