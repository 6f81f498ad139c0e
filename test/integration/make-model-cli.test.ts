import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadModel } from "../../packaging/example-service/model.js";
import { REPO_ROOT, runNode } from "../helpers/processes.js";

const MAKE_MODEL = join(REPO_ROOT, "dist", "packaging", "example-service", "make-model-cli.js");
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgepull-make-model-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("make-model, the example model's command", () => {
  it("--help says what it writes and every option, exit 0", async () => {
    const r = await runNode(MAKE_MODEL, ["--help"]);
    expect(r.code).toBe(0);
    for (const option of ["--out", "--version", "--seed", "--extra-mib", "--padding-seed", "--broken", "--json"])
      expect(r.stdout).toContain(option);
  });

  it("writes a folder the example service loads, the same bytes for the same options", async () => {
    const a = await runNode(MAKE_MODEL, ["--out", join(dir, "a"), "--version", "1.2.0", "--seed", "7", "--json"]);
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout)).toEqual({ dir: join(dir, "a"), version: "1.2.0", files: ["config.json", "model.safetensors"] });
    const model = await loadModel(join(dir, "a"));
    expect(model).toMatchObject({ version: "1.2.0", inputSize: 8, outputSize: 4 });
    const b = await runNode(MAKE_MODEL, ["--out", join(dir, "b"), "--version", "1.2.0", "--seed", "7"]);
    expect(b.code, b.stderr).toBe(0);
    expect(await readFile(join(dir, "b", "model.safetensors"))).toEqual(await readFile(join(dir, "a", "model.safetensors")));
  });

  it.each([
    [["--version", "1.0.0"], /--out DIR is required/],
    [["--out", "x"], /--version V is required/],
    [["--out", "x", "--version", "1", "--seed", "abc"], /--seed must be an integer of at least 0, got "abc"/],
    [["--out", "x", "--version", "1", "--extra-mib", "1.5"], /--extra-mib must be an integer/],
    [
      ["--out", "x", "--version", "1", "--perturb", "1e-3"],
      /--perturb must be a decimal number of at least 0 \(such as 0\.01\), got "1e-3"/,
    ],
    [["--out", "x", "--version", "1", "--frob"], /unknown or malformed option/],
    [["--out", "x", "--version", "1", "stray"], /unexpected argument "stray"/],
  ])("%j is a usage error, exit 2, and writes nothing", async (args, message) => {
    const r = await runNode(
      MAKE_MODEL,
      args.map((a) => (a === "x" ? join(dir, "x") : a)),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^make-model: USAGE: /);
    expect(r.stderr).toMatch(message);
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses a folder that is not empty", async () => {
    await writeFile(join(dir, "keep.txt"), "mine");
    const r = await runNode(MAKE_MODEL, ["--out", dir, "--version", "1.0.0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("exists and is not empty");
    expect(await readdir(dir)).toEqual(["keep.txt"]);
  });

  it("--perturb moves the weights a little: same shape and labels, other bytes", async () => {
    const plain = await runNode(MAKE_MODEL, ["--out", join(dir, "a"), "--version", "1.0.0", "--seed", "7"]);
    const tuned = await runNode(MAKE_MODEL, ["--out", join(dir, "b"), "--version", "1.0.0", "--seed", "7", "--perturb", "0.01"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(tuned.code, tuned.stderr).toBe(0);
    const a = await loadModel(join(dir, "a"));
    const b = await loadModel(join(dir, "b"));
    expect(b).toMatchObject({ inputSize: a.inputSize, outputSize: a.outputSize, labels: a.labels });
    const moved = Array.from(b.weight, (w, i) => Math.abs(w - (a.weight[i] as number)));
    expect(Math.max(...moved)).toBeGreaterThan(0);
    expect(Math.max(...moved)).toBeLessThanOrEqual(0.01 + 1e-6);
  });
});
