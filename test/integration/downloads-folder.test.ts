import { randomBytes } from "node:crypto";
import { readlinkSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { parseConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { startRepoServer } from "../../publisher/repo-server.js";
import { sha256Hex } from "../../shared/digest.js";
import { bundlePath, deltaPath, releaseDir, releaseManifestPath } from "../../shared/repo-layout.js";
import type { PrivateKeyInfo } from "../../shared/signature.js";
import { type HoldingProxy, startHoldingProxy } from "../helpers/holding-proxy.js";
import { waitFor } from "../helpers/processes.js";
import { craftBundle, fileOf, loadKey, writePointer, writeRelease } from "../helpers/repo-craft.js";

/**
 * Whatever a repository offers and however each release is refused, the
 * device's downloads folder ends up holding at most the resumable partial of
 * the one release still wanted.
 */

const NAME = "demo-model";
const CHANNEL = "stable";
const KiB = 1024;
const MiB = 1024 * KiB;

let root: string;
let repoDir: string;
let dataDir: string;
let publicKeyPath: string;
let key: PrivateKeyInfo;
let repo: { url: string; close(): Promise<void> };
let proxy: HoldingProxy;
let health: Server;
let agent: Agent;
let sequence: number;
let v1Text: string;
/** Versions whose service never becomes ready. */
const unhealthy = new Set<string>();

function configWith(extra: Record<string, unknown> = {}) {
  return parseConfig(
    {
      deviceId: "dev-downloads",
      dataDir,
      name: NAME,
      channel: CHANNEL,
      repository: proxy.url,
      trustedKeys: [publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: {
        url: `http://127.0.0.1:${(health.address() as { port: number }).port}/ready`,
        timeoutSeconds: 1,
        probationSeconds: 0,
        intervalMs: 50,
      },
      // Held responses must outlast the test's steps; one attempt per download keeps refusals quick.
      download: { retries: 1, idleTimeoutSeconds: 120 },
      diskReserveMiB: 0,
      ...extra,
    },
    join(root, "device", "agent.json"),
  );
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-downloads-"));
  repoDir = join(root, "repo");
  dataDir = join(root, "device", "data");
  const keys = await keygen({ outDir: join(root, "keys") });
  publicKeyPath = keys.publicKeyPath;
  key = await loadKey(keys.privateKeyPath);
  unhealthy.clear();
  health = createServer((_req, res) => {
    let active = "";
    try {
      active = readlinkSync(join(dataDir, "current")).replace(/^versions\//, "");
    } catch {}
    res.statusCode = unhealthy.has(active) ? 503 : 200;
    res.end();
  });
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  proxy = await startHoldingProxy(repo.url);
  const model = join(root, "model-v1");
  await mkdir(model, { recursive: true });
  await writeFile(join(model, "weights.bin"), Buffer.alloc(4096, 7));
  await buildRelease({ modelDir: model, name: NAME, version: "1.0.0", repoDir, keyPath: keys.privateKeyPath });
  await publishChannel({ repoDir, name: NAME, version: "1.0.0", channel: CHANNEL, keyPath: keys.privateKeyPath });
  v1Text = await readFile(join(repoDir, releaseManifestPath(NAME, "1.0.0")), "utf8");
  const pointer = await readFile(join(repoDir, "channels", NAME, `${CHANNEL}.json`), "utf8");
  sequence = (JSON.parse(pointer) as { signed: { sequence: number } }).signed.sequence;
  agent = await Agent.open(configWith(), silentLogger(), "test");
  expect((await agent.check("test", { wait: true })).attempt?.result).toBe("succeeded");
});

afterEach(async () => {
  await agent.stop({ stopService: false });
  await proxy.close();
  await repo.close();
  await new Promise((r) => health.close(r));
  await rm(root, { recursive: true, force: true });
});

const downloadsDir = () => join(dataDir, "downloads");

async function downloads(): Promise<string[]> {
  return (await readdir(downloadsDir())).sort();
}

async function downloadsBytes(): Promise<number> {
  let total = 0;
  for (const entry of await readdir(downloadsDir())) total += (await stat(join(downloadsDir(), entry))).size;
  return total;
}

const bundlePart = (v: string) => `${NAME}-${v}.tar.gz.part`;
const bundleUrlSuffix = (v: string) => `/${NAME}-${v}.tar.gz`;

async function partSize(v: string): Promise<number> {
  return stat(join(downloadsDir(), bundlePart(v))).then(
    (s) => s.size,
    () => 0,
  );
}

async function reopen(extra: Record<string, unknown> = {}): Promise<void> {
  await agent.stop({ stopService: false });
  agent = await Agent.open(configWith(extra), silentLogger(), "test");
}

// --- releases as a repository may offer them -------------------------------------------------------

/** A release with a payload of `bytes` random (incompressible) bytes, honest unless its manifest signs a bundle `shortBy` bytes smaller. */
async function honest(v: string, bytes = 8 * KiB, shortBy = 0): Promise<string> {
  const content = randomBytes(bytes);
  const files = [fileOf("model.bin", content)];
  const bundle = await craftBundle({
    name: NAME,
    version: v,
    files,
    key,
    payloadEntries: [{ name: "payload/model.bin", content }],
  });
  return writeRelease(repoDir, { name: NAME, version: v, files, bundle, key, bundleRef: { size: bundle.length - shortBy } });
}

/** Bundle bytes changed after signing: the digest does not match. */
async function tampered(v: string): Promise<string> {
  const text = await honest(v, 64 * KiB);
  const path = join(repoDir, bundlePath(NAME, v));
  const bytes = await readFile(path);
  bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
  await writeFile(path, bytes);
  return text;
}

/** The manifest signs a smaller size than the server's file. */
function oversized(v: string): Promise<string> {
  return honest(v, 64 * KiB, 100);
}

/** Signed with its true digest, but not a tar inside the gzip: refused at extraction. */
async function corrupt(v: string, opts: { deltaFrom?: string } = {}): Promise<string> {
  const files = [fileOf("model.bin", Buffer.from("never shipped"))];
  const bundle = gzipSync(randomBytes(64 * KiB));
  let deltas: { from: string; url: string; size: number; sha256: string }[] | undefined;
  if (opts.deltaFrom) {
    // A small delta with its true digest that is no delta at all: applying it fails, the bundle comes next.
    const delta = randomBytes(2 * KiB);
    const url = deltaPath(NAME, opts.deltaFrom, v);
    await mkdir(join(repoDir, releaseDir(NAME, v), "deltas"), { recursive: true });
    await writeFile(join(repoDir, url), delta);
    deltas = [{ from: opts.deltaFrom, url, size: delta.length, sha256: sha256Hex(delta) }];
  }
  return writeRelease(repoDir, { name: NAME, version: v, files, bundle, key, deltas });
}

async function publish(v: string, releaseText: string): Promise<void> {
  sequence += 1;
  await writePointer(repoDir, { name: NAME, channel: CHANNEL, version: v, sequence, releaseText, keys: [key] });
}

/** Publishes a release, lets the agent check and waits for the attempt: `result:errorCode`. */
async function offer(v: string, make: (v: string) => Promise<string>): Promise<string> {
  await publish(v, await make(v));
  const { attempt, decision } = await agent.check("test", { wait: true });
  return attempt ? `${attempt.result}:${attempt.errorCode ?? ""}` : decision.action;
}

/** Publishes a large release whose bundle the proxy holds halfway; resolves once half is on disk. */
async function startHeldDownload(v: string): Promise<void> {
  proxy.hold(bundleUrlSuffix(v));
  await publish(v, await honest(v, 3 * MiB));
  await agent.check("test", { wait: false });
  await waitFor(`${v} half downloaded`, async () => proxy.held() > 0 && (await partSize(v)) > 0);
}

// --- the refusal classes -----------------------------------------------------------------------------

describe("the downloads folder after each kind of refused release", () => {
  it("a bundle whose digest does not match leaves nothing", async () => {
    expect(await offer("2.0.0", tampered)).toBe("failed:DIGEST_MISMATCH");
    expect(await downloads()).toEqual([]);
  });

  it("a bundle larger than its signed size leaves nothing", async () => {
    expect(await offer("2.0.0", oversized)).toBe("failed:SIZE_MISMATCH");
    expect(await downloads()).toEqual([]);
  });

  it("a bundle refused at extraction is removed", async () => {
    expect(await offer("2.0.0", corrupt)).toMatch(/^failed:BUNDLE_/);
    expect(await downloads()).toEqual([]);
  });

  it("a delta that fails, then a bundle that fails, leave neither behind", async () => {
    expect(await offer("2.0.0", (v) => corrupt(v, { deltaFrom: "1.0.0" }))).toMatch(/^failed:BUNDLE_/);
    expect(agent.store.history(1)[0]?.deltaFallbackCode).toBeTruthy();
    expect(await downloads()).toEqual([]);
  });

  it("a release that installs, fails its health check and is deny-listed leaves nothing", async () => {
    unhealthy.add("2.0.0");
    expect(await offer("2.0.0", honest)).toBe("rolled_back:HEALTH_TIMEOUT");
    expect(agent.store.isDenied("2.0.0")).toBeDefined();
    expect(await downloads()).toEqual([]);
  });

  it("an interrupted transfer keeps its partial while the release is wanted, across a restart, and not after", async () => {
    proxy.drop(bundleUrlSuffix("2.0.0"));
    expect(await offer("2.0.0", (v) => honest(v, 256 * KiB))).toBe("failed:DOWNLOAD_FAILED");
    expect(await downloads()).toEqual([bundlePart("2.0.0")]);
    await reopen();
    await agent.recover();
    expect((await agent.check("test", { wait: true })).decision).toMatchObject({ reason: "retry-later" });
    expect(await downloads()).toEqual([bundlePart("2.0.0")]);

    expect(await offer("2.1.0", honest)).toBe("succeeded:");
    expect(await downloads()).toEqual([]);
  });

  it("a release superseded mid-download by a newer one leaves nothing", async () => {
    await writeFile(join(downloadsDir(), bundlePart("1.5.0")), randomBytes(KiB));
    await startHeldDownload("2.0.0");
    // While a download runs, the folder holds its file and nothing else of the agent's.
    expect(await downloads()).toEqual([bundlePart("2.0.0")]);
    expect(await offer("2.1.0", honest)).toBe("succeeded:");
    expect(agent.store.history(2).map((a) => `${a.toVersion}:${a.result}`)).toEqual(["2.1.0:succeeded", "2.0.0:superseded"]);
    expect(await downloads()).toEqual([]);
  });

  it("a release withdrawn by the channel mid-download leaves nothing", async () => {
    await startHeldDownload("2.0.0");
    await publish("1.0.0", v1Text);
    expect((await agent.check("test", { wait: true })).decision).toMatchObject({ reason: "up-to-date" });
    await waitFor("2.0.0 dropped", () => agent.store.history(1)[0]?.result === "superseded");
    expect(await downloads()).toEqual([]);
  });

  it("a release the agent stopped mid-download, then withdrawn by the channel, leaves nothing", async () => {
    await startHeldDownload("2.0.0");
    await agent.stop({ stopService: false });
    // Withdrawn: the channel names 1.0.0 again and the repository no longer has 2.0.0.
    await publish("1.0.0", v1Text);
    await rm(join(repoDir, releaseDir(NAME, "2.0.0")), { recursive: true, force: true });
    proxy.releaseHeld();
    agent = await Agent.open(configWith(), silentLogger(), "test");
    expect((await agent.recover())?.result).toBe("failed");
    expect((await agent.check("test", { wait: true })).decision).toMatchObject({ reason: "up-to-date" });
    expect(await downloads()).toEqual([]);
  });

  it("keeps the partial of the release still wanted across a restart and resumes it with Range", async () => {
    await startHeldDownload("2.0.0");
    await agent.stop({ stopService: false });
    const kept = await partSize("2.0.0");
    expect(kept).toBeGreaterThan(0);
    proxy.releaseHeld();
    agent = await Agent.open(configWith(), silentLogger(), "test");
    expect((await agent.recover())?.result).toBe("succeeded");
    const last = proxy.requests.filter((r) => r.path.endsWith(bundleUrlSuffix("2.0.0"))).at(-1);
    expect(Number(/^bytes=(\d+)-$/.exec(last?.range ?? "")?.[1])).toBe(kept);
    expect(await downloads()).toEqual([]);
  });
});

describe("the downloads folder over many refused releases", () => {
  it("stays bounded by the one release in hand through 30 refusals, and is empty once none is wanted", async () => {
    const kinds: Array<[string, (v: string) => Promise<string>]> = [
      ["tampered", tampered],
      ["oversized", oversized],
      [
        "dropped",
        (v) => {
          proxy.drop(bundleUrlSuffix(v));
          return honest(v, 128 * KiB);
        },
      ],
      ["corrupt", corrupt],
      ["bad delta", (v) => corrupt(v, { deltaFrom: "1.0.0" })],
    ];
    let most = 0;
    for (let i = 0; i < 30; i++) {
      const v = `2.${i}.0`;
      const [kind, make] = kinds[i % kinds.length] as [string, (v: string) => Promise<string>];
      expect(await offer(v, make), kind).toMatch(/^failed:/);
      const left = await downloads();
      most = Math.max(most, left.length);
      // Only the partial of the release just refused for a reason a retry may cure.
      expect(left, `after ${v} (${kind})`).toEqual(kind === "dropped" ? [bundlePart(v)] : []);
      expect(await downloadsBytes()).toBeLessThanOrEqual(128 * KiB + 4 * KiB);
    }
    expect(most).toBeLessThanOrEqual(1);
    await publish("1.0.0", v1Text);
    await agent.check("test", { wait: true });
    expect(await downloads()).toEqual([]);
  });
});

describe("the downloads folder's limits", () => {
  it("refuses a release whose bundle exceeds download.maxFolderMiB before fetching a byte", async () => {
    await reopen({ download: { retries: 1, idleTimeoutSeconds: 120, maxFolderMiB: 1 } });
    await publish("2.0.0", await honest("2.0.0", 3 * MiB));
    const { attempt } = await agent.check("test", { wait: true });
    expect(attempt?.errorCode).toBe("DOWNLOAD_TOO_LARGE");
    expect(attempt?.errorMessage).toContain("download.maxFolderMiB");
    expect(proxy.requests.some((r) => r.path.endsWith(bundleUrlSuffix("2.0.0")))).toBe(false);
    expect(await downloads()).toEqual([]);
    expect(await offer("2.1.0", (v) => honest(v, 256 * KiB))).toBe("succeeded:");
  });

  it("removes only regular files named as the agent names downloads, at start and around an attempt", async () => {
    const outside = join(root, "outside.bin");
    await writeFile(outside, "not the agent's");
    await writeFile(join(downloadsDir(), `${NAME}-0.9.0.tar.gz`), randomBytes(KiB));
    await writeFile(join(downloadsDir(), `${NAME}-0.9.0.from-0.8.0.epdelta.part`), randomBytes(KiB));
    await writeFile(join(downloadsDir(), "notes.txt"), "an operator's");
    await mkdir(join(downloadsDir(), "keep.d"));
    await symlink(outside, join(downloadsDir(), `${NAME}-0.9.1.tar.gz.part`));
    const notOurs = [`${NAME}-0.9.1.tar.gz.part`, "keep.d", "notes.txt"];
    // At start, recovery finds no attempt that wants any of them.
    await reopen();
    await agent.recover();
    expect(await downloads()).toEqual(notOurs);
    expect(await readFile(outside, "utf8")).toBe("not the agent's");

    await writeFile(join(downloadsDir(), `${NAME}-0.9.2.tar.gz.part`), randomBytes(KiB));
    expect(await offer("2.0.0", honest)).toBe("succeeded:");
    expect(await downloads()).toEqual(notOurs);
    expect(await readFile(outside, "utf8")).toBe("not the agent's");
  });
});
