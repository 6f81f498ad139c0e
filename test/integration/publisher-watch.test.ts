import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { startWatch, type WatchHandle } from "../../publisher/commands/watch.js";
import { readChannelPointer, readRelease } from "../../publisher/repo-files.js";
import { sha256Hex } from "../../shared/digest.js";
import { parseChannelPointer, parseEnvelopeText, parseReleaseManifest } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { channelTopic } from "../../shared/topics.js";
import { startTestBroker } from "../helpers/broker.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { LoggedProcess, PUBLISH_BIN, waitFor } from "../helpers/processes.js";

const NAME = "demo";
const CHANNEL = "stable";
const STABLE_MS = 800;

type Line = Record<string, unknown>;

let root: string;
let models: string;
let repo: string;
let key: string;
let lines: Line[];
let handle: WatchHandle | undefined;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-watch-"));
  models = join(root, "models");
  repo = join(root, "repo");
  await mkdir(models);
  key = (await keygen({ outDir: join(root, "keys") })).privateKeyPath;
  lines = [];
});
afterEach(async () => {
  await handle?.stop();
  handle = undefined;
  await rm(root, { recursive: true, force: true });
});

function capturingLogger() {
  return pino({ level: "debug", base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
}

function start(extra: { stableMs?: number; name?: string; mqtt?: MqttSettings } = {}): Promise<WatchHandle> {
  return startWatch({
    modelsDir: models,
    repoDir: repo,
    keyPath: key,
    name: extra.name ?? NAME,
    channel: CHANNEL,
    stableMs: extra.stableMs ?? STABLE_MS,
    mqtt: extra.mqtt,
    logger: capturingLogger(),
  }).then((h) => {
    handle = h;
    return h;
  });
}

/** Writes a version folder the way training would: model files first, the marker last. */
async function drop(folder: string, files: Record<string, string>, marker: boolean): Promise<void> {
  const dir = join(models, folder);
  await mkdir(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) await writeFile(join(dir, path), content);
  if (marker) await writeFile(join(dir, ".complete"), "");
}

async function channel(): Promise<{ version: string; sequence: number } | undefined> {
  const path = join(repo, "channels", NAME, `${CHANNEL}.json`);
  if (!existsSync(path)) return undefined;
  const p = parseChannelPointer(parseEnvelopeText(await readFile(path, "utf8"), path).signed);
  return { version: p.version, sequence: p.sequence };
}

function channelAt(version: string): Promise<{ version: string; sequence: number }> {
  return waitFor(`channel at ${version}`, async () => {
    const c = await channel();
    return c?.version === version ? c : undefined;
  });
}

function log(match: (l: Line) => boolean, what: string): Promise<Line> {
  return waitFor(what, () => lines.find(match), 15_000, 20);
}

const releaseJson = (version: string) => join(repo, "releases", NAME, version, "release.json");

describe("startWatch", () => {
  it("publishes marked and quiet versions, ignores other folders, survives a failed build", async () => {
    const w = await start();

    await drop("1.0.0", { "weights.bin": "w1", "config.json": "{}" }, true);
    expect(await channelAt("1.0.0")).toEqual({ version: "1.0.0", sequence: 1 });
    const release = parseReleaseManifest(parseEnvelopeText(await readFile(releaseJson("1.0.0"), "utf8"), "r").signed);
    expect(release.files.map((f) => f.path)).toEqual(["config.json", "weights.bin"]); // the marker is not bundled

    // No marker: seen first, built only once the folder has stayed quiet.
    await drop("1.1.0", { "weights.bin": "w2" }, false);
    await log((l) => l.version === "1.1.0" && String(l.msg).startsWith("version folder seen"), "1.1.0 seen");
    expect(existsSync(releaseJson("1.1.0"))).toBe(false);
    expect(await channelAt("1.1.0")).toEqual({ version: "1.1.0", sequence: 2 });
    expect(lines.find((l) => l.version === "1.1.0" && String(l.msg).startsWith("version complete"))?.reason).toBe("stable");

    await drop("not-a-version", { "weights.bin": "x" }, true);
    const ignored = await log((l) => l.folder === "not-a-version", "warning for not-a-version");
    expect(ignored.level).toBe(40);

    // An empty folder with a marker: the build fails, nothing is published, the watcher goes on.
    await drop("2.0.0", {}, true);
    const failed = await log((l) => l.version === "2.0.0" && l.msg === "build failed; nothing published", "2.0.0 failure");
    expect(failed.code).toBe("MODEL_DIR_INVALID");
    expect(failed.level).toBe(50);
    await w.idle();
    expect(await channel()).toEqual({ version: "1.1.0", sequence: 2 });
    expect(existsSync(releaseJson("2.0.0"))).toBe(false);

    await drop("2.0.1", { "weights.bin": "w3" }, true);
    expect(await channelAt("2.0.1")).toEqual({ version: "2.0.1", sequence: 3 });

    // The failed folder is retried once it changes, but a lower version never moves the channel back.
    await writeFile(join(models, "2.0.0", "weights.bin"), "w-late");
    await log((l) => l.version === "2.0.0" && l.msg === "version built", "2.0.0 built on retry");
    await w.idle();
    expect(await channel()).toEqual({ version: "2.0.1", sequence: 3 });
    expect(lines.some((l) => l.version === "2.0.0" && l.channelVersion === "2.0.1")).toBe(true);
    expect(lines.filter((l) => l.msg === "version published").map((l) => l.version)).toEqual(["1.0.0", "1.1.0", "2.0.1"]);
  });

  it("takes a folder as soon as its marker appears, and makes a delta from the channel's release before publishing", async () => {
    // The stable time is far beyond the wait: only the marker can complete the folder.
    await start({ stableMs: 600_000 });
    const weights = randomBytes(300_000).toString("base64");
    await drop("1.0.0", { "weights.bin": weights }, true);
    expect(await channelAt("1.0.0")).toEqual({ version: "1.0.0", sequence: 1 });
    expect(lines.find((l) => l.version === "1.0.0" && String(l.msg).startsWith("version complete"))?.reason).toBe("marker");
    expect(lines.some((l) => l.version === "1.0.0" && l.msg === "no earlier release to make a delta from")).toBe(true);

    await drop("1.1.0", { "weights.bin": `tuned${weights.slice(5)}` }, true);
    expect(await channelAt("1.1.0")).toEqual({ version: "1.1.0", sequence: 2 });
    const built = lines.find((l) => l.version === "1.1.0" && l.msg === "deltas built");
    expect(built?.deltas).toMatchObject([{ from: "1.0.0", offered: true }]);
    const release = await readRelease(repo, NAME, "1.1.0");
    expect(release?.value.deltas?.map((d) => d.from)).toEqual(["1.0.0"]);
    // The channel names the manifest with its deltas, not an earlier copy.
    const pointer = await readChannelPointer(repo, NAME, CHANNEL);
    expect(pointer?.value.release.sha256).toBe(sha256Hex(release?.bytes ?? Buffer.alloc(0)));
  });

  it("skips versions already in the repository and builds the others lowest first", async () => {
    await drop("1.0.0", { "weights.bin": "w1" }, true);
    await buildRelease({ modelDir: join(models, "1.0.0"), name: NAME, version: "1.0.0", repoDir: repo, keyPath: key });
    await drop("1.2.0", { "weights.bin": "w3" }, true);
    await drop("1.1.0", { "weights.bin": "w2" }, true);

    const w = await start({ stableMs: 60_000 });
    await w.idle();
    expect(lines.find((l) => Array.isArray(l.versions))?.versions).toEqual(["1.0.0"]);
    expect(lines.filter((l) => l.msg === "building version").map((l) => l.version)).toEqual(["1.1.0", "1.2.0"]);
    expect(await channel()).toEqual({ version: "1.2.0", sequence: 2 });
    await w.stop();
    await w.idle(); // resolves after stop
  });

  it("on stop, finishes the version in hand (built and published) and starts no other", async () => {
    await drop("1.0.0", { "weights.bin": randomBytes(24 * 1024 * 1024).toString("base64") }, true);
    await drop("1.1.0", { "weights.bin": "small" }, true);
    const w = await start();
    await log((l) => l.msg === "building version", "first build");
    await w.stop();
    expect(await channel()).toEqual({ version: "1.0.0", sequence: 1 });
    expect(existsSync(releaseJson("1.1.0"))).toBe(false);
    expect(lines.filter((l) => l.msg === "building version").map((l) => l.version)).toEqual(["1.0.0"]);
    expect(lines.at(-1)?.msg).toBe("watch stopped");
  });

  it("with mqtt, also sends the pointer file's bytes retained to the channel topic", async () => {
    const broker = await startTestBroker();
    const name = `watch-${randomBytes(4).toString("hex")}`;
    const topic = channelTopic(name, CHANNEL);
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      await start({ name, mqtt: { url: broker.url } });
      await drop("1.0.0", { "weights.bin": "w1" }, true);
      const published = await log((l) => l.msg === "version published", "published");
      expect(published.mqttTopic).toBe(topic);
      const retained = new Promise<Buffer>((resolve) =>
        client.on("message", (t, payload, packet) => {
          if (t === topic && packet.retain) resolve(payload);
        }),
      );
      await client.subscribeAsync(topic, { qos: 1 });
      expect((await retained).equals(await readFile(join(repo, "channels", name, `${CHANNEL}.json`)))).toBe(true);
      await client.publishAsync(topic, "", { retain: true, qos: 1 }); // leave a shared broker clean
    } finally {
      await client.endAsync();
      await broker.close();
    }
  });

  it("refuses a missing models folder and a bad key before watching", async () => {
    await expect(
      startWatch({
        modelsDir: join(root, "nope"),
        repoDir: repo,
        keyPath: key,
        name: NAME,
        channel: CHANNEL,
        logger: capturingLogger(),
      }),
    ).rejects.toMatchObject({ code: "MODEL_DIR_INVALID" });
    await expect(
      startWatch({
        modelsDir: models,
        repoDir: repo,
        keyPath: join(root, "nokey"),
        name: NAME,
        channel: CHANNEL,
        logger: capturingLogger(),
      }),
    ).rejects.toMatchObject({ code: "KEY_INVALID" });
  });
});

describe("edge-publish watch (built CLI)", () => {
  it("publishes a dropped version and exits 0 on SIGTERM", async () => {
    await ensurePublisherBuilt();
    const child = new LoggedProcess(PUBLISH_BIN, [
      "watch",
      "--models",
      models,
      "--repo",
      repo,
      "--key",
      key,
      "--channel",
      CHANNEL,
      "--name",
      NAME,
      "--stable-ms",
      "5000",
    ]);
    try {
      await child.waitForLog("watching", (l) => l.msg === "watching for model versions", 15_000);
      await drop("3.0.0", { "weights.bin": "w" }, true);
      const published = await child.waitForLog("published", (l) => l.msg === "version published", 15_000);
      expect(published).toMatchObject({ version: "3.0.0", channel: CHANNEL, sequence: 1, level: "info" });
      expect(typeof published.time).toBe("string");
      expect(await channel()).toEqual({ version: "3.0.0", sequence: 1 });
      child.kill("SIGTERM");
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect(child.hasLog((l) => l.msg === "watch stopped")).toBe(true);
    } finally {
      await child.stop();
    }
  }, 120_000);
});
