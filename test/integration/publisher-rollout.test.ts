import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildRelease } from "../../publisher/commands/build.js";
import { listChannels } from "../../publisher/commands/channels.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { keysInit, keysRotate } from "../../publisher/commands/keys.js";
import { promote } from "../../publisher/commands/promote.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { changeRollout, type RolloutAction, rolloutWithHalt } from "../../publisher/commands/rollout.js";
import { withdraw } from "../../publisher/commands/withdraw.js";
import { readChannelPointer } from "../../publisher/repo-files.js";
import { historyPath } from "../../publisher/rollout/channel-history.js";
import { keysDocumentPath, keysOf, parseKeysDocument, verifyNextKeys } from "../../shared/key-chain.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { channelPointerPath } from "../../shared/repo-layout.js";
import { type PublicKeyInfo, parsePublicKey, verifyEnvelope } from "../../shared/signature.js";
import { type DeviceEvent, deviceEventsTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { PUBLISH_BIN, runNode } from "../helpers/processes.js";

let root: string;
let repoDir: string;
let keyPath: string;
let publicKeyPath: string;
const name = "det";

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-rollout-"));
  repoDir = join(root, "repo");
  const k = await keygen({ outDir: join(root, "keys") });
  keyPath = k.privateKeyPath;
  publicKeyPath = k.publicKeyPath;
  const model = join(root, "model");
  await mkdir(model);
  for (const version of ["1.0.0", "1.1.0", "1.2.0"]) {
    await writeFile(join(model, "weights.bin"), `weights ${version}`);
    await buildRelease({ modelDir: model, name, version, repoDir, keyPath });
  }
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const publish = (version: string, channel: string) => publishChannel({ repoDir, name, version, channel, keyPath });
const rollout = (channel: string, action: RolloutAction) => changeRollout({ repoDir, name, channel, keyPath, action });

/** The pointer as a device would get it: re-read from disk and verified against the publisher key. */
async function pointerOnDisk(channel: string) {
  const text = await readFile(join(repoDir, channelPointerPath(name, channel)), "utf8");
  const envelope = parseEnvelopeText(text, channel);
  verifyEnvelope(envelope, [parsePublicKey(await readFile(publicKeyPath), "pub")], channel);
  return (await readChannelPointer(repoDir, name, channel))?.value;
}

describe("promote", () => {
  it("refuses a version the source channel does not carry, and leaves the target alone", async () => {
    await publish("1.0.0", "staging");
    await publish("1.0.0", "stable");
    const before = await readFile(join(repoDir, channelPointerPath(name, "stable")));
    await expect(promote({ repoDir, name, version: "1.1.0", from: "staging", to: "stable", keyPath })).rejects.toMatchObject({
      code: "RELEASE_NOT_FOUND",
      message: "channel staging carries 1.0.0, not 1.1.0",
    });
    await expect(promote({ repoDir, name, version: "1.0.0", from: "canary", to: "stable", keyPath })).rejects.toMatchObject({
      code: "RELEASE_NOT_FOUND",
    });
    expect(await readFile(join(repoDir, channelPointerPath(name, "stable")))).toEqual(before);
  });

  it("points the target at the release with its next sequence, at 100 % unless told otherwise", async () => {
    await publish("1.0.0", "stable");
    await publish("1.1.0", "staging");
    await rollout("staging", { kind: "percent", percent: 20 });
    const r = await promote({ repoDir, name, version: "1.1.0", from: "staging", to: "stable", keyPath });
    expect(r.fromSequence).toBe(2);
    const stable = await pointerOnDisk("stable");
    expect(stable).toMatchObject({ version: "1.1.0", sequence: 2, channel: "stable" });
    expect(stable?.rollout).toBeUndefined();
    expect(stable?.release).toEqual((await pointerOnDisk("staging"))?.release);

    const canary = await promote({ repoDir, name, version: "1.1.0", from: "staging", to: "canary", keyPath, percent: 5 });
    expect(canary.pointer).toMatchObject({ sequence: 1, rollout: { percent: 5, paused: false } });
  });
});

describe("channels", () => {
  it("lists every pointer with release, sequence, share and expiry, marking expired ones", async () => {
    await publish("1.0.0", "stable");
    await publish("1.1.0", "canary");
    await rollout("canary", { kind: "percent", percent: 10 });
    await rollout("canary", { kind: "pause" });
    await publishChannel({ repoDir, name: "other", version: "1.0.0", channel: "dev", keyPath }).catch(() => undefined);
    const later = new Date(Date.now() + 40 * 24 * 3600 * 1000);
    const r = await listChannels({ repoDir, now: later });
    expect(r.problems).toEqual([]);
    expect(r.channels.map((c) => [c.name, c.channel, c.version, c.sequence, c.rollout, c.expired])).toEqual([
      [name, "canary", "1.1.0", 3, { percent: 10, paused: true }, true],
      [name, "stable", "1.0.0", 1, { percent: 100, paused: false }, true],
    ]);
    const now = await listChannels({ repoDir, name });
    expect(now.channels.every((c) => !c.expired)).toBe(true);
  });

  it("reports a broken pointer file without hiding the others", async () => {
    await publish("1.0.0", "stable");
    await writeFile(join(repoDir, channelPointerPath(name, "broken")), "{");
    const r = await listChannels({ repoDir });
    expect(r.channels.map((c) => c.channel)).toEqual(["stable"]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]?.error).toMatch(/^METADATA_MALFORMED/);
  });
});

describe("rollout changes", () => {
  it("percent, pause, resume and abort each write a higher sequence; abort goes back to the previous release", async () => {
    await publish("1.0.0", "stable");
    const steps: [RolloutAction, string, unknown][] = [
      [{ kind: "percent", percent: 10, version: "1.1.0" }, "1.1.0", { percent: 10, paused: false }],
      [{ kind: "percent", percent: 50 }, "1.1.0", { percent: 50, paused: false }],
      [{ kind: "pause" }, "1.1.0", { percent: 50, paused: true }],
      [{ kind: "resume" }, "1.1.0", { percent: 50, paused: false }],
      [{ kind: "abort" }, "1.0.0", undefined],
    ];
    let sequence = 1;
    for (const [action, version, share] of steps) {
      const c = await rollout("stable", action);
      const onDisk = await pointerOnDisk("stable");
      expect(onDisk?.sequence).toBe(++sequence);
      expect(onDisk?.version).toBe(version);
      expect(onDisk?.rollout).toEqual(share);
      if (action.kind === "abort") expect(c.abortedFrom).toEqual({ version: "1.1.0", source: "history" });
    }
  });

  it("abort skips a release the channel already left through an abort (1.0, 1.1 aborted, 1.2 aborted)", async () => {
    await publish("1.0.0", "stable");
    await publish("1.1.0", "stable");
    const first = await rollout("stable", { kind: "abort" });
    expect(first.pointer.version).toBe("1.0.0");
    await rollout("stable", { kind: "percent", percent: 20, version: "1.2.0" });
    const second = await rollout("stable", { kind: "abort" });
    expect(second.abortedFrom).toEqual({ version: "1.2.0", source: "history" });
    expect(second.pointer).toMatchObject({ version: "1.0.0", sequence: 5 });
    // Aborting again finds nothing healthy before 1.0.0: neither 1.1.0 nor 1.2.0 is a way back.
    await expect(rollout("stable", { kind: "abort" })).rejects.toMatchObject({
      code: "NO_PREVIOUS_VERSION",
      message: expect.stringMatching(/--to VERSION$/),
    });
    expect((await pointerOnDisk("stable"))?.sequence).toBe(5);
  });

  it("abort goes back past a bad release the operator replaced by publishing the old one again", async () => {
    await publish("1.0.0", "stable");
    await publish("1.1.0", "stable"); // bad: every device rolled back and deny-listed it
    await publish("1.0.0", "stable"); // the operator's way back
    await publish("1.2.0", "stable");
    const c = await rollout("stable", { kind: "abort" });
    expect(c.abortedFrom).toEqual({ version: "1.2.0", source: "history" });
    expect(c.pointer).toMatchObject({ version: "1.0.0", sequence: 5 });
  });

  it("abort --to names the release; it must be built, not withdrawn, and not the aborted one", async () => {
    await publish("1.0.0", "stable");
    await publish("1.2.0", "stable");
    await expect(rollout("stable", { kind: "abort", to: "1.2.0" })).rejects.toMatchObject({ code: "USAGE" });
    await expect(rollout("stable", { kind: "abort", to: "0.9.0" })).rejects.toMatchObject({ code: "RELEASE_NOT_FOUND" });
    await withdraw({ repoDir, name, version: "1.1.0", reason: "bad", keyPath });
    await expect(rollout("stable", { kind: "abort", to: "1.1.0" })).rejects.toMatchObject({ code: "VERSION_WITHDRAWN" });
    expect((await pointerOnDisk("stable"))?.sequence).toBe(2);
    const c = await changeRollout({
      repoDir,
      name,
      channel: "stable",
      keyPath,
      action: { kind: "abort", to: "1.1.0" },
      force: true,
    });
    expect(c.abortedFrom).toEqual({ version: "1.2.0", source: "operator" });
    expect(c.pointer).toMatchObject({ version: "1.1.0", sequence: 3 });
  });

  it("where the history has a gap (an older repository), the repository decides, skipping withdrawn releases", async () => {
    await publish("1.0.0", "stable");
    await publish("1.2.0", "stable");
    await rm(join(repoDir, historyPath(name, "stable")));
    await rollout("stable", { kind: "percent", percent: 30 });
    const c = await rollout("stable", { kind: "abort" });
    // No history before sequence 2: the highest built version below 1.2.0.
    expect(c.abortedFrom).toEqual({ version: "1.2.0", source: "repository" });
    expect(c.pointer).toMatchObject({ version: "1.1.0", sequence: 4 });

    await publish("1.2.0", "lts");
    await publish("1.2.0", "lts");
    await rm(join(repoDir, historyPath(name, "lts")));
    await rollout("lts", { kind: "percent", percent: 50 });
    await withdraw({ repoDir, name, version: "1.1.0", reason: "corrupt weights", keyPath });
    const lts = await rollout("lts", { kind: "abort" });
    expect(lts).toMatchObject({ abortedFrom: { source: "repository" }, pointer: { version: "1.0.0" } });
  });

  it("refuses what it cannot do", async () => {
    await expect(rollout("stable", { kind: "pause" })).rejects.toMatchObject({ code: "RELEASE_NOT_FOUND" });
    await publish("1.0.0", "stable");
    await expect(rollout("stable", { kind: "abort" })).rejects.toMatchObject({ code: "NO_PREVIOUS_VERSION" });
    await expect(rollout("stable", { kind: "percent", percent: 10, version: "9.9.9" })).rejects.toMatchObject({
      code: "RELEASE_NOT_FOUND",
    });
    expect((await pointerOnDisk("stable"))?.sequence).toBe(1);
  });
});

describe("keys", () => {
  it("init and two rotations form a chain that verifies link by link", async () => {
    const k2 = await keygen({ outDir: join(root, "keys-2") });
    const k3 = await keygen({ outDir: join(root, "keys-3") });
    const first = await keysInit({ repoDir, keyPath });
    await expect(keysInit({ repoDir, keyPath })).rejects.toMatchObject({ code: "VERSION_EXISTS" });
    const second = await keysRotate({ repoDir, keyPath, add: [k2.publicKeyPath], remove: [first.signedBy.slice(0, 12)] });
    expect(second).toMatchObject({ version: 2, keys: [k2.keyid], removed: [first.signedBy] });
    // The removed key may no longer extend the chain.
    await expect(keysRotate({ repoDir, keyPath, add: [k3.publicKeyPath] })).rejects.toMatchObject({
      code: "KEY_UNTRUSTED",
      message: expect.stringMatching(/^the signing key is not in keys document 2 /),
    });
    await expect(keysRotate({ repoDir, keyPath: k2.privateKeyPath, remove: [k2.keyid] })).rejects.toMatchObject({
      code: "USAGE",
    });
    const third = await keysRotate({ repoDir, keyPath: k2.privateKeyPath, add: [k3.publicKeyPath] });
    expect(third.keys.sort()).toEqual([k2.keyid, k3.keyid].sort());

    let trusted: PublicKeyInfo[] = [parsePublicKey(await readFile(publicKeyPath), "shipped key")];
    for (let n = 1; n <= 3; n++) {
      const path = join(repoDir, keysDocumentPath(n));
      const next = verifyNextKeys(parseEnvelopeText(await readFile(path, "utf8"), path), trusted, n);
      trusted = next.keys;
    }
    expect(trusted.map((k) => k.keyid).sort()).toEqual([k2.keyid, k3.keyid].sort());
    // Document 3 does not verify against document 1's keys: the chain must be walked in order.
    const doc3 = parseEnvelopeText(await readFile(join(repoDir, keysDocumentPath(3)), "utf8"), "3");
    const keys1 = keysOf(
      parseKeysDocument(parseEnvelopeText(await readFile(join(repoDir, keysDocumentPath(1)), "utf8"), "1").signed, 1),
    );
    expect(() => verifyNextKeys(doc3, keys1, 3)).toThrow(/KEY|trust/);
  });

  it("rotate needs keys init first and a change to make", async () => {
    const k2 = await keygen({ outDir: join(root, "keys-2") });
    await expect(keysRotate({ repoDir, keyPath, add: [k2.publicKeyPath] })).rejects.toMatchObject({ code: "RELEASE_NOT_FOUND" });
    await keysInit({ repoDir, keyPath });
    await expect(keysRotate({ repoDir, keyPath })).rejects.toMatchObject({ code: "USAGE" });
    await expect(keysRotate({ repoDir, keyPath, remove: ["deadbeefdeadbeef"] })).rejects.toMatchObject({ code: "USAGE" });
  });
});

describe("automatic halt", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => {
    await broker.close();
  });

  function event(deviceId: string, type: DeviceEvent["type"], version: string): DeviceEvent {
    return {
      schema: 1,
      deviceId,
      name,
      type,
      at: new Date().toISOString(),
      version,
      fromVersion: "1.0.0",
      attempt: 1,
      errorCode: type === "succeeded" ? null : "HEALTH_FAILED",
      error: null,
      durationMs: 10,
      bytes: 100,
    };
  }

  async function sendEvents(prefix: string, events: [string, DeviceEvent["type"], string][]): Promise<void> {
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      for (const [id, type, version] of events) {
        const deviceId = `${prefix}-${id}`;
        await client.publishAsync(deviceEventsTopic(deviceId), JSON.stringify(event(deviceId, type, version)), { qos: 1 });
      }
    } finally {
      await client.endAsync();
    }
  }

  // Unique device ids: on a shared broker (MQTT_URL) other tests' devices may talk too.
  const failing = (): [string, DeviceEvent["type"], string][] => [
    ["a", "succeeded", "1.1.0"],
    ["b", "succeeded", "1.1.0"],
    ["c", "failed", "1.2.0"], // another release: ignored
    ["c", "update_started", "1.1.0"], // not a final result
    ["c", "failed", "1.1.0"],
    ["d", "rolled_back", "1.1.0"],
    ["e", "failed", "1.1.0"],
  ];

  it("aborts once 3 of 5 reporting devices failed (rate 0.5, at least 4 devices)", async () => {
    await publish("1.0.0", "stable");
    const prefix = `halt-${randomBytes(3).toString("hex")}`;
    let sent: Promise<void> | undefined;
    const r = await rolloutWithHalt(
      {
        repoDir,
        name,
        channel: "stable",
        keyPath,
        action: { kind: "percent", percent: 20, version: "1.1.0" },
        mqtt: { url: broker.url },
      },
      {
        policy: { maxFailureRate: 0.5, minDevices: 4 },
        watchMs: 20_000,
        stopRequested: new Promise(() => {}),
        onWarning: () => {},
        onWatching: () => {
          sent = sendEvents(prefix, failing());
        },
      },
    );
    await sent;
    expect(r.end).toBe("halt");
    expect(r.decision.tally).toEqual({ reported: 5, failed: 3, succeeded: 2 });
    expect(r.change.pointer).toMatchObject({ version: "1.1.0", sequence: 2, rollout: { percent: 20, paused: false } });
    const after = await pointerOnDisk("stable");
    expect(after).toMatchObject({ version: "1.0.0", sequence: 3 });
    expect(after?.rollout).toBeUndefined();
  });

  it("keeps the rollout when failures stay under the rate, until the watch time ends", async () => {
    await publish("1.0.0", "stable");
    const prefix = `ok-${randomBytes(3).toString("hex")}`;
    let sent: Promise<void> | undefined;
    const r = await rolloutWithHalt(
      {
        repoDir,
        name,
        channel: "stable",
        keyPath,
        action: { kind: "percent", percent: 50, version: "1.1.0" },
        mqtt: { url: broker.url },
      },
      {
        policy: { maxFailureRate: 0.5, minDevices: 4 },
        watchMs: 1500,
        stopRequested: new Promise(() => {}),
        onWarning: () => {},
        onWatching: () => {
          sent = sendEvents(prefix, failing().slice(0, 6));
        },
      },
    );
    await sent;
    expect(r.end).toBe("time");
    expect(r.abort).toBeUndefined();
    expect(r.decision.tally).toEqual({ reported: 4, failed: 2, succeeded: 2 });
    expect(await pointerOnDisk("stable")).toMatchObject({ version: "1.1.0", sequence: 2, rollout: { percent: 50 } });
  });

  it("the CLI says it halted, in one line and exit code 1", async () => {
    await ensurePublisherBuilt();
    await publish("1.0.0", "stable");
    await publish("1.1.0", "stable");
    const prefix = `cli-${randomBytes(3).toString("hex")}`;
    const child = spawn(
      process.execPath,
      [
        PUBLISH_BIN,
        "rollout",
        "--repo",
        repoDir,
        "--name",
        name,
        "--channel",
        "stable",
        "--key",
        keyPath,
        "--percent",
        "40",
        "--halt-on-failures",
        "50%",
        "--min-devices",
        "4",
        "--mqtt",
        broker.url,
        "--watch-seconds",
        "20",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes("watching device events")) resolve();
      });
      void exited.then(() => resolve());
    });
    await sendEvents(prefix, failing());
    expect(await exited).toBe(1);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^det stable -> 1\.1\.0 at 40% \(sequence 3,.*watching device events for 1\.1\.0\n/);
    expect(stdout).toMatch(
      /\nrollout halted: 3 of 5 reporting devices failed \(60%\), above 50%; det stable -> 1\.0\.0 at 100% \(sequence 4,/,
    );
  });
});

describe("CLI", () => {
  it("promote refusal is one line with its code", async () => {
    await ensurePublisherBuilt();
    await publish("1.0.0", "staging");
    const r = await runNode(PUBLISH_BIN, [
      "promote",
      "--repo",
      repoDir,
      "--name",
      name,
      "--version",
      "1.1.0",
      "--from",
      "staging",
      "--to",
      "stable",
      "--key",
      keyPath,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("edge-publish: RELEASE_NOT_FOUND: channel staging carries 1.0.0, not 1.1.0\n");
    const listed = await runNode(PUBLISH_BIN, ["channels", "--repo", repoDir, "--json"]);
    expect(JSON.parse(listed.stdout).channels).toHaveLength(1);
    const usage = await runNode(PUBLISH_BIN, [
      "rollout",
      "--repo",
      repoDir,
      "--name",
      name,
      "--channel",
      "staging",
      "--key",
      keyPath,
      "--pause",
      "--abort",
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^edge-publish: USAGE: rollout needs exactly one of/);
  });
});
