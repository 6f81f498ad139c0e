import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { type AgentConfig, parseConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { SIDELOAD_TYPE } from "../../agent/sources/sideload.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { startRepoServer } from "../../publisher/repo-server.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { PAYLOAD_TYPE, type ReleaseManifest } from "../../shared/manifest.js";
import { bundlePath, releaseManifestPath } from "../../shared/repo-layout.js";
import { type PrivateKeyInfo, signEnvelope } from "../../shared/signature.js";
import { craftBundle, fileOf, loadKey, writePointer, writeRelease } from "../helpers/repo-craft.js";

/**
 * Releases signed by the trusted key that name a bundle or delta somewhere the
 * agent must not read from: a local file, a FIFO, another origin. Each is
 * refused at intake with URL_FORBIDDEN, before any attempt starts, and leaves
 * the data folder and the active version as they were.
 */
const NAME = "demo-model";
const CHANNEL = "stable";

let root: string;
let repoDir: string;
let outside: string;
let key: PrivateKeyInfo;
let publicKeyPath: string;
let health: Server;
let healthPort: number;
let repo: { url: string; close(): Promise<void> };
/** The same repository on another port: another origin, as a CDN would be. */
let mirror: { url: string; close(): Promise<void> };
let sequence = 100;
let devices = 0;
const opened: Agent[] = [];

interface Device {
  agent: Agent;
  config: AgentConfig;
  dataDir: string;
}

function configFor(dataDir: string, extra: Record<string, unknown>): AgentConfig {
  return parseConfig(
    {
      deviceId: `dev-url-${devices}`,
      dataDir,
      name: NAME,
      channel: CHANNEL,
      repository: repo.url,
      trustedKeys: [publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: { url: `http://127.0.0.1:${healthPort}/ready`, timeoutSeconds: 5, probationSeconds: 0 },
      download: { retries: 1, idleTimeoutSeconds: 5, ...((extra.download as object | undefined) ?? {}) },
      diskReserveMiB: 0,
      ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "download")),
    },
    join(dataDir, "..", "agent.json"),
  );
}

/** A fresh device; unless pinned elsewhere it installs 1.0.0 from the channel first. */
async function openDevice(extra: Record<string, unknown> = {}, opts: { installV1?: boolean } = {}): Promise<Device> {
  devices += 1;
  const dataDir = join(root, `device-${devices}`, "data");
  const config = configFor(dataDir, extra);
  const agent = await Agent.open(config, silentLogger(), "test");
  opened.push(agent);
  if (opts.installV1 !== false) {
    await publishV1();
    const first = await agent.check("test", { wait: true });
    expect(first.attempt?.result ?? first.decision.action).toBe("succeeded");
  }
  return { agent, config, dataDir };
}

async function publishV1(): Promise<void> {
  sequence += 1;
  const text = await readFile(join(repoDir, releaseManifestPath(NAME, "1.0.0")), "utf8");
  await writePointer(repoDir, { name: NAME, channel: CHANNEL, version: "1.0.0", sequence, releaseText: text, keys: [key] });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-url-policy-"));
  repoDir = join(root, "repo");
  outside = join(root, "outside");
  await mkdir(outside, { recursive: true });
  const keys = await keygen({ outDir: join(root, "keys") });
  key = await loadKey(keys.privateKeyPath);
  publicKeyPath = keys.publicKeyPath;
  health = createServer((_req, res) => res.end("ready"));
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  healthPort = (health.address() as { port: number }).port;
  repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  mirror = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  const model = join(root, "model-v1");
  await mkdir(model, { recursive: true });
  await writeFile(join(model, "weights.bin"), Buffer.alloc(4096, 7));
  await writeFile(join(model, "config.json"), '{"v":1}');
  await buildRelease({ modelDir: model, name: NAME, version: "1.0.0", repoDir, keyPath: keys.privateKeyPath });
  await publishChannel({ repoDir, name: NAME, version: "1.0.0", channel: CHANNEL, keyPath: keys.privateKeyPath });
});

afterAll(async () => {
  for (const agent of opened) await agent.stop().catch(() => {});
  await repo?.close();
  await mirror?.close();
  await new Promise((r) => health?.close(r));
  await rm(root, { recursive: true, force: true });
});

const good = Buffer.from("model bytes, version two");
const files = [fileOf("model.bin", good)];

/** A signed bundle for `v`, written into the repository; also returns its bytes. */
async function bundleFor(v: string): Promise<Buffer> {
  return craftBundle({ name: NAME, version: v, files, key, payloadEntries: [{ name: "payload/model.bin", content: good }] });
}

/** Signs and writes a release for `v` whose bundle (and deltas) are as given, then points the channel at it. */
async function publishCrafted(
  v: string,
  bundle: Buffer,
  refs: { bundleUrl?: string; deltas?: ReleaseManifest["deltas"] } = {},
): Promise<string> {
  let text = await writeRelease(repoDir, {
    name: NAME,
    version: v,
    files,
    bundle,
    key,
    bundleRef: refs.bundleUrl ? { url: refs.bundleUrl } : undefined,
  });
  if (refs.deltas) {
    const signed = JSON.parse(text).signed as ReleaseManifest;
    text = canonicalJson(signEnvelope({ ...signed, deltas: refs.deltas }, [key]));
    await writeFile(join(repoDir, releaseManifestPath(NAME, v)), text);
  }
  sequence += 1;
  return writePointer(repoDir, { name: NAME, channel: CHANNEL, version: v, sequence, releaseText: text, keys: [key] });
}

/** What a check made of the channel: the code it threw, or the attempt's result. */
async function checkCode(device: Device, opts: { pointerText?: string } = {}): Promise<string> {
  try {
    const result = await device.agent.check(opts.pointerText ? "mqtt" : "test", { wait: true, ...opts });
    return result.attempt ? `${result.attempt.result}${result.attempt.errorCode ? `:${result.attempt.errorCode}` : ""}` : "none";
  } catch (err) {
    return (err as { code: string }).code;
  }
}

/** Refused at intake: no attempt, nothing downloaded or copied, 1.0.0 still active, the reason recorded as the last check. */
async function expectRefusedAtIntake(device: Device, attemptsBefore: number): Promise<void> {
  expect(device.agent.store.history(100)).toHaveLength(attemptsBefore);
  expect(await readdir(join(device.dataDir, "downloads"))).toEqual([]);
  expect(await readdir(join(device.dataDir, "versions"))).toEqual(["1.0.0"]);
  expect(await readdir(join(device.dataDir, "staging"))).toEqual([]);
  expect(await readFile(join(device.dataDir, "current", "config.json"), "utf8")).toBe('{"v":1}');
  expect(device.agent.store.lastCheck()).toMatchObject({ outcome: "error", errorCode: "URL_FORBIDDEN" });
}

function mkfifo(path: string): void {
  execFileSync("mkfifo", [path]);
}

describe("a repository release may only name http(s) URLs on allowed origins", () => {
  it.each([
    ["file:/ (one slash)", (p: string) => `file:${p}`],
    ["file:///", (p: string) => pathToFileURL(p).toString()],
  ])("a bundle URL naming a real local bundle as %s is refused, nothing is copied", async (_form, urlOf) => {
    const device = await openDevice();
    const before = device.agent.store.history(100).length;
    const bundle = await bundleFor("2.0.0");
    const local = join(outside, `local-${devices}.tar.gz`);
    await writeFile(local, bundle);
    await publishCrafted("2.0.0", bundle, { bundleUrl: urlOf(local) });
    expect(await checkCode(device)).toBe("URL_FORBIDDEN");
    await expectRefusedAtIntake(device, before);
  });

  it("a bundle URL naming a FIFO is refused at once; the agent does not block on it", async () => {
    const device = await openDevice();
    const before = device.agent.store.history(100).length;
    const fifo = join(outside, `pipe-${devices}.tar.gz`);
    mkfifo(fifo);
    await publishCrafted("2.0.1", await bundleFor("2.0.1"), { bundleUrl: `file:${fifo}` });
    expect(await checkCode(device)).toBe("URL_FORBIDDEN");
    await expectRefusedAtIntake(device, before);
    // Still responsive: the channel going back to 1.0.0 is an ordinary, prompt check.
    await publishV1();
    expect(await checkCode(device)).toBe("none");
  });

  it("a delta URL naming a local file is refused, whether the pointer was polled or pushed over MQTT", async () => {
    const device = await openDevice();
    const before = device.agent.store.history(100).length;
    const delta = Buffer.from("not really a delta, and never read");
    const local = join(outside, `delta-${devices}.epdelta`);
    await writeFile(local, delta);
    const deltas = [{ from: "1.0.0", url: `file:${local}`, size: delta.length, sha256: sha256Hex(delta) }];
    const bundle = await bundleFor("2.0.2");
    const pointerText = await publishCrafted("2.0.2", bundle, { deltas });
    expect(await checkCode(device)).toBe("URL_FORBIDDEN");
    await expectRefusedAtIntake(device, before);
    expect(await checkCode(device, { pointerText })).toBe("URL_FORBIDDEN");
    await expectRefusedAtIntake(device, before);
  });

  it("an http URL on another origin is refused unless download.allowedOrigins names it", async () => {
    const bundle = await bundleFor("2.0.3");
    const elsewhere = `${mirror.url}/${bundlePath(NAME, "2.0.3")}`;

    const strict = await openDevice();
    const before = strict.agent.store.history(100).length;
    await publishCrafted("2.0.3", bundle, { bundleUrl: elsewhere });
    expect(await checkCode(strict)).toBe("URL_FORBIDDEN");
    await expectRefusedAtIntake(strict, before);
    expect(strict.agent.store.lastCheck()?.error).toContain(new URL(mirror.url).origin);

    const withCdn = await openDevice({ download: { allowedOrigins: [mirror.url] } });
    await publishCrafted("2.0.3", bundle, { bundleUrl: elsewhere });
    expect(await checkCode(withCdn)).toBe("succeeded");
    expect(await readFile(join(withCdn.dataDir, "current", "model.bin"))).toEqual(good);
  });

  it("a pinned version is held to the same policy", async () => {
    const bundle = await bundleFor("2.0.4");
    const local = join(outside, "pinned.tar.gz");
    await writeFile(local, bundle);
    await publishCrafted("2.0.4", bundle, { bundleUrl: `file:${local}` });
    await publishV1();
    const pinned = await openDevice({ pinVersion: "2.0.4" }, { installV1: false });
    expect(await checkCode(pinned)).toBe("URL_FORBIDDEN");
    expect(pinned.agent.store.history(100)).toEqual([]);
    expect(await readdir(join(pinned.dataDir, "downloads"))).toEqual([]);
    expect(await readdir(join(pinned.dataDir, "versions"))).toEqual([]);
  });
});

describe("an attempt keeps its origin across a restart", () => {
  /** Interrupts the device's next attempt as it enters `downloading` (as a shutdown would), then reopens the device. */
  async function interruptedThenRecovered(
    start: (agent: Agent) => Promise<unknown>,
    prepare: () => Promise<void> = async () => {},
  ): Promise<{ agent: Agent; dataDir: string }> {
    const first = await openDevice();
    const { config, dataDir } = first;
    await first.agent.stop({ stopService: false });
    opened.splice(opened.indexOf(first.agent), 1);
    await prepare();
    let stopping: Promise<void> | undefined;
    const doomed: Agent = await Agent.open(config, silentLogger(), "test", {
      fault: (point) => {
        if (!stopping && point === "before:downloading") stopping = doomed.stop({ stopService: false });
      },
    });
    await expect(start(doomed)).rejects.toMatchObject({ code: "INTERRUPTED" });
    await stopping;
    expect(stopping, "the attempt was interrupted at before:downloading").toBeDefined();
    const agent = await Agent.open(config, silentLogger(), "test");
    opened.push(agent);
    return { agent, dataDir };
  }

  it("a sideload resumes from its local file", async () => {
    const bundle = await bundleFor("3.0.0");
    const usb = join(outside, "usb-3.0.0.tar.gz");
    await writeFile(usb, bundle);
    const { agent, dataDir } = await interruptedThenRecovered((a) => a.installLocal(usb, "sideload"));
    expect(await agent.recover()).toMatchObject({ source: "sideload", toVersion: "3.0.0", result: "succeeded" });
    expect(await readFile(join(dataDir, "current", "model.bin"))).toEqual(good);
  });

  it("a repository release resumes over HTTP, even when it carries sideload-looking members outside its signature", async () => {
    const decoyContent = Buffer.from("decoy from the device's own disk");
    const prepare = async (): Promise<void> => {
      // The signed release names the repository's bundle; unsigned members beside the signature claim a local file instead.
      const bundle = await bundleFor("3.0.1");
      await writeRelease(repoDir, { name: NAME, version: "3.0.1", files, bundle, key });
      const decoyFiles = [fileOf("model.bin", decoyContent)];
      const decoy = await craftBundle({
        name: NAME,
        version: "3.0.1",
        files: decoyFiles,
        key,
        payloadEntries: [{ name: "payload/model.bin", content: decoyContent }],
      });
      const decoyPath = join(outside, "decoy.tar.gz");
      await writeFile(decoyPath, decoy);
      const manifestText = canonicalJson(
        signEnvelope({ _type: PAYLOAD_TYPE, specVersion: 1, name: NAME, version: "3.0.1", files: decoyFiles }, [key]),
      );
      const releasePath = join(repoDir, releaseManifestPath(NAME, "3.0.1"));
      const envelope = JSON.parse(await readFile(releasePath, "utf8")) as object;
      const polyglot = canonicalJson({
        ...envelope,
        _type: SIDELOAD_TYPE,
        payload: manifestText,
        bundle: { url: pathToFileURL(decoyPath).toString(), size: decoy.length, sha256: sha256Hex(decoy) },
        receivedAt: new Date().toISOString(),
      });
      await writeFile(releasePath, polyglot);
      sequence += 1;
      await writePointer(repoDir, {
        name: NAME,
        channel: CHANNEL,
        version: "3.0.1",
        sequence,
        releaseText: polyglot,
        keys: [key],
      });
    };
    const { agent, dataDir } = await interruptedThenRecovered((a) => a.check("poll", { wait: true }), prepare);
    expect(await agent.recover()).toMatchObject({ source: "poll", toVersion: "3.0.1", result: "succeeded" });
    expect(await readFile(join(dataDir, "current", "model.bin"))).toEqual(good);
  });
});
