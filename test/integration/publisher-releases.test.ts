import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDeltas } from "../../publisher/commands/delta.js";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { withdraw } from "../../publisher/commands/withdraw.js";
import { releaseManifestPath, withdrawalListPath } from "../../shared/repo-layout.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { SchemaValidator } from "../helpers/json-schema.js";
import { PUBLISH_BIN, type RunResult, runNode } from "../helpers/processes.js";
import { TestRepository } from "../helpers/test-repository.js";

let root: string;
let repo: TestRepository;
const schemas = new SchemaValidator();

interface ReleasesJson {
  releases: {
    name: string;
    version: string;
    files: number;
    payloadBytes: number;
    bundle: { size: number };
    deltas: { from: string; size: number }[];
    channels: { channel: string; percent: number; paused: boolean }[];
    withdrawn: { reason: string; action: string } | null;
  }[];
  problems: { path: string; error: string }[];
}

function cli(...args: string[]): Promise<RunResult> {
  return runNode(PUBLISH_BIN, args);
}

beforeAll(async () => {
  await ensurePublisherBuilt();
  root = await mkdtemp(join(tmpdir(), "edgepull-releases-"));
  repo = await TestRepository.create(root);
  await repo.release("1.0.0", { extraBytes: 128 * 1024, paddingSeed: 3 });
  await repo.release("1.1.0", { extraBytes: 128 * 1024, paddingSeed: 3 });
  await repo.release("1.2.0", { extraBytes: 128 * 1024, paddingSeed: 3, publish: false });
  await makeDeltas({ repoDir: repo.repoDir, name: repo.name, from: ["1.0.0"], to: "1.1.0", keyPath: repo.keyPath });
  await changeRollout({
    repoDir: repo.repoDir,
    name: repo.name,
    channel: "canary",
    keyPath: repo.keyPath,
    action: { kind: "percent", percent: 20, version: "1.2.0" },
  });
  await withdraw({ repoDir: repo.repoDir, name: repo.name, version: "1.0.0", reason: "wrong labels", keyPath: repo.keyPath });
}, 120_000);

afterAll(async () => {
  await repo.close();
  await rm(root, { recursive: true, force: true });
});

describe("edge-publish releases", () => {
  it("lists every release with its size, deltas and the channels that point at it, oldest first", async () => {
    const r = await cli("releases", "--repo", repo.repoDir, "--json");
    expect(r.code, r.stderr).toBe(0);
    const value = JSON.parse(r.stdout) as ReleasesJson;
    expect(schemas.validate("releases.json", value)).toEqual([]);
    expect(value.problems).toEqual([]);
    // stable: published at 1.0.0, then 1.1.0, then re-pointed by the delta (which re-signs release.json).
    expect(value.releases.map((x) => [x.version, x.deltas.map((d) => d.from), x.channels])).toEqual([
      ["1.0.0", [], []],
      ["1.1.0", ["1.0.0"], [{ channel: "stable", sequence: 3, percent: 100, paused: false }]],
      ["1.2.0", [], [{ channel: "canary", sequence: 1, percent: 20, paused: false }]],
    ]);
    expect(value.releases.map((x) => x.withdrawn)).toEqual([
      { reason: "wrong labels", withdrawnAt: expect.any(String), action: "move" },
      null,
      null,
    ]);
    for (const x of value.releases) {
      expect(x.bundle.size).toBeGreaterThan(0);
      expect(x.payloadBytes).toBeGreaterThan(128 * 1024);
    }
    const text = await cli("releases", "--repo", repo.repoDir, "--name", repo.name);
    expect(text.stdout).toMatch(/^NAME +VERSION +CREATED +FILES +BUNDLE +DELTAS FROM +CHANNELS +WITHDRAWN\n/);
    expect(text.stdout).toMatch(/1\.0\.0 .* - +- +\d{4}-\d\d-\d\d: wrong labels\n/);
    expect(text.stdout).toMatch(/1\.1\.0 .* 1\.0\.0 \(\d+\) +stable 100% +-\n/);
    expect(text.stdout).toMatch(/1\.2\.0 .* - +canary 20% +-\n/);
  });

  it("reports an unreadable release manifest on stderr and lists the rest", async () => {
    const path = join(repo.repoDir, releaseManifestPath(repo.name, "0.9.0"));
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, "{ not json");
    try {
      const r = await cli("releases", "--repo", repo.repoDir, "--json");
      expect(r.code, r.stderr).toBe(0);
      const value = JSON.parse(r.stdout) as ReleasesJson;
      expect(schemas.validate("releases.json", value)).toEqual([]);
      expect(value.releases.map((x) => x.version)).toEqual(["1.0.0", "1.1.0", "1.2.0"]);
      expect(value.problems).toEqual([{ path, error: expect.stringMatching(/^METADATA_MALFORMED: /) }]);
      expect(r.stderr).toContain(`skipped ${path}: METADATA_MALFORMED`);
    } finally {
      await rm(join(path, ".."), { recursive: true, force: true });
    }
  });

  it("names an unreadable withdrawal list as a problem and still lists the releases", async () => {
    const path = join(repo.repoDir, withdrawalListPath(repo.name));
    const saved = await readFile(path);
    await writeFile(path, "[]");
    try {
      const r = await cli("releases", "--repo", repo.repoDir, "--json");
      expect(r.code, r.stderr).toBe(0);
      const value = JSON.parse(r.stdout) as ReleasesJson;
      expect(schemas.validate("releases.json", value)).toEqual([]);
      expect(value.releases.map((x) => [x.version, x.withdrawn])).toEqual([
        ["1.0.0", null],
        ["1.1.0", null],
        ["1.2.0", null],
      ]);
      expect(value.problems).toEqual([{ path, error: expect.stringMatching(/^METADATA_MALFORMED: /) }]);
    } finally {
      await writeFile(path, saved);
    }
  });
});

describe("commands that read a repository refuse a path that is not one", () => {
  const commands = (repoDir: string): string[][] => [
    ["serve", "--repo", repoDir, "--port", "0"],
    ["channels", "--repo", repoDir],
    ["releases", "--repo", repoDir],
    ["rollout", "--repo", repoDir, "--name", repo.name, "--channel", "stable", "--key", repo.keyPath, "--percent", "10"],
    [
      "promote",
      ...[
        "--repo",
        repoDir,
        "--name",
        repo.name,
        "--version",
        "1.1.0",
        "--from",
        "stable",
        "--to",
        "prod",
        "--key",
        repo.keyPath,
      ],
    ],
    ["refresh", "--repo", repoDir, "--key", repo.keyPath],
  ];

  it.each([
    ["a missing folder", "missing", /does not exist/],
    ["an empty folder", "empty", /no releases\/ or channels\/ folder/],
    ["a file", "file", /is not a folder/],
  ])("%s: REPO_INVALID (exit 1) from each, and nothing is written", async (_what, kind, message) => {
    const target = join(root, `not-a-repo-${kind}`);
    if (kind === "empty") await mkdir(target);
    if (kind === "file") await writeFile(target, "x");
    for (const args of commands(target)) {
      const r = await cli(...args, "--json");
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
      const value = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(schemas.validate("error.json", value)).toEqual([]);
      expect(value.error.code, args[0]).toBe("REPO_INVALID");
      expect(value.error.message).toMatch(message);
      expect(r.stderr).toMatch(/^edge-publish: REPO_INVALID: /);
    }
    if (kind === "missing") expect(existsSync(target)).toBe(false);
    if (kind === "empty") expect(await readdir(target)).toEqual([]);
  });
});

describe("edge-publish serve", () => {
  it("says PORT_IN_USE (exit 1) for a port another program holds", async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = holder.address() as { port: number };
      const r = await cli("serve", "--repo", repo.repoDir, "--port", String(port), "--json");
      expect(r.code, r.stderr).toBe(1);
      const value = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(schemas.validate("error.json", value)).toEqual([]);
      expect(value.error.code).toBe("PORT_IN_USE");
      expect(value.error.message).toContain(String(port));
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
