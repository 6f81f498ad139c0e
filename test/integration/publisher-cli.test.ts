import { execFile, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PUBLISH_BIN, REPO_ROOT, type RunResult, runNode } from "../helpers/processes.js";

const exec = promisify(execFile);
let root: string;
let repo: string;
let model: string;
let key: string;

function cli(...args: string[]): Promise<RunResult> {
  return runNode(PUBLISH_BIN, args);
}

/** A failed command prints exactly one line, `edge-publish: CODE: message`, and exits non-zero. */
function expectFailure(r: RunResult, code: string, exit = 1): string {
  expect(r.code, r.stderr).toBe(exit);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^edge-publish: ${code}: \\S`));
  expect(r.stdout).toBe("");
  return lines[0] as string;
}

function buildArgs(dir: string, version: string, keyPath = key): string[] {
  return ["build", dir, "--name", "demo", "--version", version, "--repo", repo, "--key", keyPath];
}

/** Newest modification time of the sources the CLI is compiled from. */
async function newestSource(): Promise<number> {
  let newest = 0;
  for (const dir of ["publisher", "shared"]) {
    for (const entry of await readdir(join(REPO_ROOT, dir), { recursive: true })) {
      if (entry.endsWith(".ts")) newest = Math.max(newest, (await stat(join(REPO_ROOT, dir, entry))).mtimeMs);
    }
  }
  return newest;
}

beforeAll(async () => {
  // The CLI under test is the compiled one. Rebuild only when it is older than its
  // sources: under `npm test` pretest has just built it, and rewriting dist/ while
  // other test files spawn compiled programs could hand them a half-written file.
  // Other modules' type errors must not block emitting ours, so tsc's exit code is
  // not the verdict: a fresh main.js is.
  const built = existsSync(PUBLISH_BIN) ? (await stat(PUBLISH_BIN)).mtimeMs : 0;
  if (built < (await newestSource())) await exec("npm", ["run", "build"], { cwd: REPO_ROOT }).catch(() => undefined);
  expect((await stat(PUBLISH_BIN)).mtimeMs).toBeGreaterThanOrEqual(await newestSource());
  root = await mkdtemp(join(tmpdir(), "edgepull-cli-"));
  repo = join(root, "repo");
  model = join(root, "model");
  await mkdir(model);
  await writeFile(join(model, "weights.bin"), "weights v1");
  const r = await cli("keygen", "--out", join(root, "keys"), "--json");
  expect(r.code, r.stderr).toBe(0);
  key = (JSON.parse(r.stdout) as { privateKeyPath: string }).privateKeyPath;
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("edge-publish, the built CLI", () => {
  it("prints help, its version, and refuses usage errors with exit 2", async () => {
    const help = await cli("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/keygen[\s\S]*build[\s\S]*publish[\s\S]*serve/);
    const buildHelp = await cli("build", "--help");
    expect(buildHelp.code).toBe(0);
    expect(buildHelp.stdout).toMatch(/^Usage: edge-publish build MODEL_DIR/);
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect((await cli("--version")).stdout).toBe(`${pkg.version}\n`);
    expectFailure(await cli("frobnicate"), "USAGE", 2);
    expectFailure(await cli("keygen", "--out", root, "--channel", "x"), "USAGE", 2);
    expect(expectFailure(await cli("build", model, "--name", "demo", "--repo", repo, "--key", key), "USAGE", 2)).toContain(
      "--version",
    );
    expectFailure(await cli(...buildArgs(model, "1.0.0"), "--gzip-level", "12"), "USAGE", 2);
    expectFailure(await cli("publish", "extra", "--repo", repo), "USAGE", 2);
  });

  it("keygen writes a 0600 key and refuses to overwrite it", async () => {
    const out = join(root, "keys2");
    const r = await cli("keygen", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(join(out, "publisher.key"));
    expect((await stat(join(out, "publisher.key"))).mode & 0o777).toBe(0o600);
    expect(expectFailure(await cli("keygen", "--out", out), "USAGE", 2)).toContain("--force");
    expect((await cli("keygen", "--out", out, "--force")).code).toBe(0);
  });

  it("builds, rebuilds the same content as already built, and publishes with --json", async () => {
    const r = await cli(...buildArgs(model, "1.0.0"), "--arch", "arm64,amd64", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const built = JSON.parse(r.stdout) as { alreadyBuilt: boolean; bundle: { size: number }; bundlePath: string };
    expect(built.alreadyBuilt).toBe(false);
    expect((await stat(built.bundlePath)).size).toBe(built.bundle.size);

    const again = await cli(...buildArgs(model, "1.0.0"), "--arch", "arm64,amd64", "--json");
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyBuilt: true, bundle: built.bundle });

    const first = await cli(
      "publish",
      "--repo",
      repo,
      "--name",
      "demo",
      "--version",
      "1.0.0",
      "--channel",
      "stable",
      "--key",
      key,
      "--json",
    );
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ version: "1.0.0", sequence: 1 });
    const second = await cli(
      "publish",
      "--repo",
      repo,
      "--name",
      "demo",
      "--version",
      "1.0.0",
      "--channel",
      "stable",
      "--key",
      key,
      "--expires-days",
      "2",
    );
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("sequence 2");
  });

  it.each([
    ["a missing model folder", () => buildArgs(join(root, "no-such-model"), "1.0.0"), "MODEL_DIR_INVALID", "no-such-model"],
    ["an empty model folder", () => buildArgs(join(root, "empty-model"), "1.0.0"), "MODEL_DIR_INVALID", "holds no files"],
    ["an invalid semantic version", () => buildArgs(model, "1.0"), "VERSION_INVALID", '"1.0"'],
    ["an unreadable key", () => buildArgs(model, "1.0.0", join(root, "no-such.key")), "KEY_INVALID", "no-such.key"],
    ["a garbage key", () => buildArgs(model, "1.0.0", join(root, "garbage.key")), "KEY_INVALID", "garbage.key"],
    ["an RSA key", () => buildArgs(model, "1.0.0", join(root, "rsa.key")), "KEY_INVALID", "expected ed25519"],
    [
      "publishing a version that is not built",
      () => ["publish", "--repo", repo, "--name", "demo", "--version", "9.9.9", "--channel", "stable", "--key", key],
      "RELEASE_NOT_FOUND",
      "demo 9.9.9",
    ],
  ])("fails on %s with its code in one stderr line", async (_what, args, code, mention) => {
    await mkdir(join(root, "empty-model"), { recursive: true });
    await writeFile(join(root, "garbage.key"), "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    await writeFile(join(root, "rsa.key"), rsa.privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(expectFailure(await cli(...args()), code)).toContain(mention);
  });

  it("fails with VERSION_EXISTS when a built version is rebuilt with other content", async () => {
    const other = join(root, "model-other");
    await mkdir(other, { recursive: true });
    await writeFile(join(other, "weights.bin"), "weights v1");
    expect((await cli(...buildArgs(other, "3.0.0"))).code).toBe(0);
    await writeFile(join(other, "weights.bin"), "weights v2, changed");
    expect(expectFailure(await cli(...buildArgs(other, "3.0.0")), "VERSION_EXISTS")).toContain("weights.bin");
  });

  it("serves until SIGTERM, printing its URL as JSON", async () => {
    await mkdir(repo, { recursive: true });
    await writeFile(join(repo, "hello.txt"), "hello");
    const child = spawn(process.execPath, [PUBLISH_BIN, "serve", "--repo", repo, "--port", "0", "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let buf = "";
        child.stdout.on("data", (d: Buffer) => {
          buf += d.toString();
          if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
        });
        child.on("exit", () => reject(new Error(`serve exited before printing its URL: ${buf}`)));
      });
      const { url } = JSON.parse(line) as { url: string };
      expect(await (await fetch(`${url}/hello.txt`)).text()).toBe("hello");
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
