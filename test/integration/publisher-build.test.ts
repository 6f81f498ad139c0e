import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { sha256Hex } from "../../shared/digest.js";
import { parseEnvelopeText, parsePayloadManifest, parseReleaseManifest, payloadOf } from "../../shared/manifest.js";
import { parsePublicKey, verifyEnvelope } from "../../shared/signature.js";

const run = promisify(execFile);
const NOW = new Date("2024-05-06T07:08:09.000Z");

let root: string;
let keyPath: string;
let publicKeyPath: string;
let keyid: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-build-"));
  const keys = await keygen({ outDir: join(root, "keys") });
  keyPath = keys.privateKeyPath;
  publicKeyPath = keys.publicKeyPath;
  keyid = keys.keyid;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A small model: weights over 1 MiB (several read chunks), nested folders, an executable, a name with a space. */
async function makeModel(dir: string): Promise<void> {
  await mkdir(join(dir, "tokenizer", "extra"), { recursive: true });
  await mkdir(join(dir, "bin"));
  await mkdir(join(dir, "empty-folder"));
  await writeFile(join(dir, "weights.bin"), randomBytes(2.5 * 1024 * 1024));
  await writeFile(join(dir, "config.json"), '{"layers":2}\n');
  await writeFile(join(dir, "tokenizer", "vocab.txt"), "a\nb\nc\n");
  await writeFile(join(dir, "tokenizer", "extra", "merges file.txt"), "x y\n");
  await writeFile(join(dir, "bin", "prepare.sh"), "#!/bin/sh\necho ok\n");
  await chmod(join(dir, "bin", "prepare.sh"), 0o750);
  await writeFile(join(dir, "empty.bin"), "");
}

function build(modelDir: string, repoDir: string, version = "1.0.0", extra: Partial<Parameters<typeof buildRelease>[0]> = {}) {
  return buildRelease({ modelDir, name: "demo-model", version, repoDir, keyPath, now: NOW, ...extra });
}

describe("buildRelease", () => {
  it("gives byte-identical bundles and release manifests for the same input, whatever the files' times", async () => {
    const model = join(root, "model");
    await makeModel(model);
    const a = await build(model, join(root, "repo-a"));
    const copy = join(root, "copy");
    await cp(model, copy, { recursive: true });
    await utimes(join(copy, "weights.bin"), new Date(2020, 1, 1), new Date(2021, 1, 1));
    const b = await build(copy, join(root, "repo-b"));
    expect(a.alreadyBuilt).toBe(false);
    const bundleA = await readFile(a.bundlePath);
    expect((await readFile(b.bundlePath)).equals(bundleA)).toBe(true);
    expect(await readFile(b.releasePath, "utf8")).toBe(await readFile(a.releasePath, "utf8"));
    // A different gzip level is a different bundle: the level really reaches zlib.
    const c = await build(model, join(root, "repo-c"), "1.0.0", { gzipLevel: 0 });
    expect(c.release.bundle.sha256).not.toBe(a.release.bundle.sha256);
    expect(c.release.bundle.size).toBeGreaterThan(bundleA.length);
  });

  it("writes a bundle GNU tar lists in order and sha256sum -c accepts after extraction", async () => {
    const model = join(root, "model");
    await makeModel(model);
    const { bundlePath } = await build(model, join(root, "repo"));
    const listed = (await run("tar", ["tzf", bundlePath])).stdout.trim().split("\n");
    expect(listed).toEqual([
      "manifest.json",
      "SHA256SUMS",
      "payload/",
      "payload/bin/",
      "payload/bin/prepare.sh",
      "payload/config.json",
      "payload/empty.bin",
      "payload/tokenizer/",
      "payload/tokenizer/extra/",
      "payload/tokenizer/extra/merges file.txt",
      "payload/tokenizer/vocab.txt",
      "payload/weights.bin",
    ]);
    const verbose = (await run("tar", ["tvzf", bundlePath, "--numeric-owner", "--full-time"])).stdout.trim().split("\n");
    for (const line of verbose) expect(line).toMatch(/^[-d]rw[-x]r-[-x]r-[-x] 0\/0 +\d+ 2000-01-01 00:00:00 /);
    expect(verbose.find((l) => l.endsWith("prepare.sh"))).toMatch(/^-rwxr-xr-x/);
    expect(verbose.find((l) => l.endsWith("config.json"))).toMatch(/^-rw-r--r--/);

    const out = join(root, "out");
    await mkdir(out);
    await run("tar", ["xzf", bundlePath, "-C", out]);
    const check = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: out });
    expect(check.stdout.trim().split("\n")).toEqual(
      listed.filter((e) => e.startsWith("payload/") && !e.endsWith("/")).map((e) => `${e}: OK`),
    );
    expect((await readFile(join(out, "payload", "weights.bin"))).equals(await readFile(join(model, "weights.bin")))).toBe(true);
  });

  it("signs manifest.json with the publisher's key and describes every file as release.json does", async () => {
    const model = join(root, "model");
    await makeModel(model);
    const built = await build(model, join(root, "repo"), "2.1.0-rc.1", { compatibility: { arch: ["arm64"], labels: [] } });
    const out = join(root, "out");
    await mkdir(out);
    await run("tar", ["xzf", built.bundlePath, "-C", out, "manifest.json"]);
    const trusted = [parsePublicKey(await readFile(publicKeyPath), publicKeyPath)];

    const manifestEnv = parseEnvelopeText(await readFile(join(out, "manifest.json"), "utf8"), "manifest.json");
    expect(verifyEnvelope(manifestEnv, trusted, "manifest.json")).toBe(keyid);
    const payload = parsePayloadManifest(manifestEnv.signed);

    const releaseText = await readFile(built.releasePath, "utf8");
    const releaseEnv = parseEnvelopeText(releaseText, "release.json");
    expect(verifyEnvelope(releaseEnv, trusted, "release.json")).toBe(keyid);
    const release = parseReleaseManifest(releaseEnv.signed);
    expect(release).toEqual(built.release);
    expect(payloadOf(release)).toEqual(payload);
    expect(release.createdAt).toBe(NOW.toISOString());
    expect(release.compatibility).toEqual({ arch: ["arm64"] });
    expect(release.bundle.url).toBe("releases/demo-model/2.1.0-rc.1/demo-model-2.1.0-rc.1.tar.gz");
    expect(join(root, "repo", release.bundle.url)).toBe(built.bundlePath);

    const bundle = await readFile(built.bundlePath);
    expect(release.bundle.size).toBe(bundle.length);
    expect(release.bundle.sha256).toBe(sha256Hex(bundle));
    const weights = release.files.find((f) => f.path === "weights.bin");
    expect(weights).toEqual({
      path: "weights.bin",
      size: 2.5 * 1024 * 1024,
      sha256: sha256Hex(await readFile(join(model, "weights.bin"))),
      mode: 0o644,
    });
    expect(release.files.find((f) => f.path === "bin/prepare.sh")?.mode).toBe(0o755);
    expect(release.files.map((f) => f.path)).toEqual([...release.files.map((f) => f.path)].sort());
  });

  it("treats a rebuild with the same content as already built, and other content as VERSION_EXISTS naming the file", async () => {
    const model = join(root, "model");
    const repo = join(root, "repo");
    await makeModel(model);
    const first = await build(model, repo);
    const releaseBefore = await stat(first.releasePath);

    const again = await build(model, repo, "1.0.0", { now: new Date("2030-01-01T00:00:00Z") });
    expect(again.alreadyBuilt).toBe(true);
    expect(again.release).toEqual(first.release);
    expect((await stat(first.releasePath)).mtimeMs).toBe(releaseBefore.mtimeMs);

    await writeFile(join(model, "config.json"), '{"layers":3}\n');
    await expect(build(model, repo)).rejects.toMatchObject({
      code: "VERSION_EXISTS",
      message: expect.stringMatching(/config\.json: sha256 [0-9a-f]{12} -> [0-9a-f]{12}/),
    });
    await expect(build(model, repo, "1.0.0", { compatibility: { arch: ["amd64"] } })).rejects.toMatchObject({
      code: "VERSION_EXISTS",
    });
    expect((await build(model, repo, "1.0.1")).alreadyBuilt).toBe(false);
  });

  it("refuses a missing, empty or file-only model folder as MODEL_DIR_INVALID", async () => {
    const repo = join(root, "repo");
    await expect(build(join(root, "nope"), repo)).rejects.toMatchObject({
      code: "MODEL_DIR_INVALID",
      message: expect.stringContaining("nope"),
    });
    await mkdir(join(root, "empty", "sub"), { recursive: true });
    await expect(build(join(root, "empty"), repo)).rejects.toMatchObject({
      code: "MODEL_DIR_INVALID",
      message: expect.stringContaining("holds no files"),
    });
    await writeFile(join(root, "file"), "x");
    await expect(build(join(root, "file"), repo)).rejects.toMatchObject({
      code: "MODEL_DIR_INVALID",
      message: expect.stringContaining("not a folder"),
    });
  });

  it("refuses symlinks and fifos in the model folder, naming them", async () => {
    const model = join(root, "model");
    await makeModel(model);
    await symlink("../config.json", join(model, "tokenizer", "link.json"));
    await expect(build(model, join(root, "repo"))).rejects.toMatchObject({
      code: "MODEL_DIR_INVALID",
      message: expect.stringContaining(`${join(model, "tokenizer", "link.json")} is a symbolic link`),
    });
    await rm(join(model, "tokenizer", "link.json"));
    // The folder itself may be reached through a link.
    await symlink(model, join(root, "model-link"));
    expect((await build(join(root, "model-link"), join(root, "repo-link"))).release.files).toHaveLength(6);
    await run("mkfifo", [join(model, "pipe")]);
    await expect(build(model, join(root, "repo"))).rejects.toMatchObject({
      code: "MODEL_DIR_INVALID",
      message: expect.stringContaining(`${join(model, "pipe")} is a fifo`),
    });
  });

  it("refuses a bad name or version as VERSION_INVALID before reading the model", async () => {
    const repo = join(root, "repo");
    await expect(build(join(root, "nope"), repo, "1.0")).rejects.toMatchObject({ code: "VERSION_INVALID" });
    await expect(build(join(root, "nope"), repo, "v1.0.0")).rejects.toMatchObject({ code: "VERSION_INVALID" });
    await expect(
      buildRelease({ modelDir: root, name: "Bad Name", version: "1.0.0", repoDir: repo, keyPath }),
    ).rejects.toMatchObject({ code: "VERSION_INVALID" });
  });

  it("fails without a trace when a file changes between hashing and packing", async () => {
    const model = join(root, "model");
    const repo = join(root, "repo");
    await makeModel(model);
    let tampered = false;
    const progress: number[] = [];
    const attempt = build(model, repo, "1.0.0", {
      onProgress: (done, total) => {
        progress.push(done);
        // Pass 2 (packing) has begun with the first file: change weights.bin (packed last) before it is packed.
        // Not at the end of pass 1: its read stream may still be open then, and read the appended bytes itself.
        if (!tampered && done > total / 2) {
          tampered = true;
          appendFileSync(join(model, "weights.bin"), "more");
        }
      },
    });
    await expect(attempt).rejects.toMatchObject({
      code: "MODEL_DIR_INVALID",
      message: expect.stringContaining(`${join(model, "weights.bin")} changed while the bundle was being built`),
    });
    expect(tampered).toBe(true);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(await readdir(join(repo, "releases", "demo-model", "1.0.0"))).toEqual([]);
  });

  it("reports progress up to twice the model's size (hash, then pack)", async () => {
    const model = join(root, "model");
    await makeModel(model);
    const seen: [number, number][] = [];
    await build(model, join(root, "repo"), "1.0.0", { onProgress: (d, t) => seen.push([d, t]) });
    const modelBytes = 2.5 * 1024 * 1024 + 13 + 6 + 4 + 18;
    expect(seen.at(-1)).toEqual([2 * modelBytes, 2 * modelBytes]);
  });
});
