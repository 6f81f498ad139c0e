import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { promote } from "../../publisher/commands/promote.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { readChannelPointer } from "../../publisher/repo-files.js";
import { type HistoryEntry, historyPath, readHistory } from "../../publisher/rollout/channel-history.js";
import type { PromotionPolicy } from "../../publisher/rollout/promotion-evidence.js";
import { channelPointerPath } from "../../shared/repo-layout.js";
import { deviceStatusTopic, type VersionHealth } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { PUBLISH_BIN, runNode } from "../helpers/processes.js";
import { deviceStatus } from "../helpers/simulated-devices.js";

/**
 * promote --require-healthy-hours against a real broker holding retained
 * device statuses in the agent's shape (checked against the schema before
 * they are published): refused below the thresholds, allowed above, and the
 * promotion recorded in the target channel's history.
 */

const HOUR = 3600;
let broker: TestBroker;
let publisher: MqttClient;
const retained = new Set<string>();
let root: string;
let repoDir: string;
let keyPath: string;
let name: string;
let tag: string;

beforeAll(async () => {
  await ensurePublisherBuilt();
  broker = await startTestBroker();
  publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 5000 });
}, 120_000);
afterAll(async () => {
  await publisher.endAsync(true);
  await broker.close();
});

beforeEach(async () => {
  // Unique per test: on a shared broker (MQTT_URL) other tests' devices report too.
  tag = randomBytes(3).toString("hex");
  name = `det-${tag}`;
  root = await mkdtemp(join(tmpdir(), "edgepull-promote-gate-"));
  repoDir = join(root, "repo");
  keyPath = (await keygen({ outDir: join(root, "keys") })).privateKeyPath;
  const model = join(root, "model");
  await mkdir(model);
  for (const version of ["1.0.0", "1.1.0"]) {
    await writeFile(join(model, "weights.bin"), `weights ${version}`);
    await buildRelease({ modelDir: model, name, version, repoDir, keyPath });
  }
  await publishChannel({ repoDir, name, version: "1.0.0", channel: "stable", keyPath });
  await publishChannel({ repoDir, name, version: "1.1.0", channel: "canary", keyPath });
});

afterEach(async () => {
  for (const topic of retained) await publisher.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
  retained.clear();
  await rm(root, { recursive: true, force: true });
});

function health(version: string, healthyHours: number, extra: Partial<VersionHealth> = {}): VersionHealth {
  return { version, healthySeconds: healthyHours * HOUR, unhealthySeconds: 0, rollbacks: 0, denied: false, ...extra };
}

async function report(id: string, channel: string, activeVersion: string, versionHealth: VersionHealth[]): Promise<void> {
  const deviceId = `${id}-${tag}`;
  const topic = deviceStatusTopic(deviceId);
  retained.add(topic);
  const status = deviceStatus(deviceId, { name, channel, activeVersion, versionHealth });
  await publisher.publishAsync(topic, JSON.stringify(status), { qos: 1, retain: true });
}

/** Three canary devices on 1.1.0 (30, 30 and 10 healthy hours), one that rolled back from it, one on stable. */
async function canaryFleet(): Promise<void> {
  await report("a", "canary", "1.1.0", [health("1.1.0", 30), health("1.0.0", 100)]);
  await report("b", "canary", "1.1.0", [health("1.1.0", 30, { unhealthySeconds: 1800 })]);
  await report("c", "canary", "1.1.0", [health("1.1.0", 10)]);
  await report("d", "canary", "1.0.0", [health("1.1.0", 0, { rollbacks: 1, denied: true }), health("1.0.0", 50)]);
  // On another channel: never counted, whatever it reports.
  await report("e", "stable", "1.1.0", [health("1.1.0", 500)]);
}

const gate = (policy: PromotionPolicy) => ({ policy, waitMs: 10_000 });
const stableBytes = () => readFile(join(repoDir, channelPointerPath(name, "stable")));

function promoteArgs(...extra: string[]): string[] {
  return [
    "promote",
    ...["--repo", repoDir, "--name", name, "--version", "1.1.0", "--from", "canary", "--to", "stable", "--key", keyPath],
    ...["--mqtt", broker.url, "--wait-ms", "10000"],
    ...extra,
  ];
}

describe("promote --require-healthy-hours", () => {
  it("refuses below the thresholds with every figure in the message, and writes nothing", async () => {
    await canaryFleet();
    const before = await stableBytes();
    const settings = { url: broker.url };
    const tooFewHours = promote({
      ...{ repoDir, name, version: "1.1.0", from: "canary", to: "stable", keyPath, mqtt: settings },
      require: gate({ healthyHours: 24, minDevices: 3, maxFailureRate: 0.5 }),
    });
    await expect(tooFewHours).rejects.toMatchObject({
      code: "PROMOTION_REFUSED",
      message:
        `not promoting ${name} 1.1.0 from canary: 2 device(s) have 24 healthy hours on it, 3 needed. ` +
        `3 device(s) on canary run ${name} 1.1.0, 2 of them with at least 24 healthy hours (need 3); ` +
        "healthy hours 70 in sum, 10 the least; failure rate 25% (1 of 4 device(s) that tried it rolled back from it " +
        "or deny-listed it; at most 50% allowed)",
    });
    const tooManyFailures = promote({
      ...{ repoDir, name, version: "1.1.0", from: "canary", to: "stable", keyPath, mqtt: settings },
      require: gate({ healthyHours: 8, minDevices: 3, maxFailureRate: 0.2 }),
    });
    await expect(tooManyFailures).rejects.toMatchObject({
      code: "PROMOTION_REFUSED",
      message: expect.stringMatching(/^not promoting det-\w+ 1\.1\.0 from canary: failure rate 25% is above 20%\. /),
    });
    expect(await stableBytes()).toEqual(before);
    expect((await readHistory(repoDir, name, "stable")).map((e) => e.version)).toEqual(["1.0.0"]);
  });

  it("the CLI refuses with exit 1, the figures on stderr and the evidence in --json", async () => {
    await canaryFleet();
    const policy = ["--require-healthy-hours", "24", "--min-devices", "3", "--max-failure-rate", "30%"];
    const text = await runNode(PUBLISH_BIN, promoteArgs(...policy));
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(
      /^edge-publish: PROMOTION_REFUSED: not promoting det-\w+ 1\.1\.0 from canary: 2 device\(s\) have 24 healthy hours on it, 3 needed\. .*failure rate 25% \(1 of 4 /,
    );
    expect(text.stdout).toMatch(/^DEVICE +RUNNING +HEALTHY H +UNHEALTHY H +ROLLBACKS +DENIED +COUNTS\n/);
    expect(text.stdout).toMatch(new RegExp(`\\nc-${tag} +yes +10 +0 +0 +no +too few hours\\n`));
    expect(text.stdout).toMatch(new RegExp(`\\nd-${tag} +no +0 +0 +1 +yes +failed\\n`));

    const json = await runNode(PUBLISH_BIN, promoteArgs(...policy, "--json"));
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({
      promoted: false,
      error: { code: "PROMOTION_REFUSED" },
      evidence: {
        channel: "canary",
        version: "1.1.0",
        policy: { healthyHours: 24, minDevices: 3, maxFailureRate: 0.3 },
        running: 3,
        qualifying: 2,
        healthyHoursTotal: 70,
        healthyHoursMin: 10,
        tried: 4,
        failed: 1,
        failureRate: 0.25,
        allowed: false,
      },
    });
    expect(out.evidence.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(
      ["a", "b", "c", "d"].map((d) => `${d}-${tag}`),
    );
    expect(out.evidence.devices[1]).toEqual({
      deviceId: `b-${tag}`,
      running: true,
      healthyHours: 30,
      unhealthyHours: 0.5,
      rollbacks: 0,
      denied: false,
      failed: false,
      qualifies: true,
    });
  });

  it("promotes once the devices meet the thresholds, printing the evidence and recording who, why and the figures", async () => {
    await canaryFleet();
    await report("c", "canary", "1.1.0", [health("1.1.0", 25)]);
    const r = await runNode(
      PUBLISH_BIN,
      promoteArgs(
        ...["--require-healthy-hours", "24", "--min-devices", "3", "--max-failure-rate", "0.3"],
        ...["--reason", "a day on canary, no regressions", "--by", "alice", "--json"],
      ),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      promoted: true,
      version: "1.1.0",
      channel: "stable",
      sequence: 2,
      evidence: { running: 3, qualifying: 3, healthyHoursTotal: 85, healthyHoursMin: 25, tried: 4, failed: 1, allowed: true },
    });
    expect((await readChannelPointer(repoDir, name, "stable"))?.value).toMatchObject({ version: "1.1.0", sequence: 2 });

    const history = await readHistory(repoDir, name, "stable");
    const entry = history.find((e) => e.sequence === 2) as HistoryEntry;
    expect(entry.promotion).toEqual({
      from: "canary",
      fromSequence: 1,
      by: "alice",
      reason: "a day on canary, no regressions",
      evidence: {
        policy: { healthyHours: 24, minDevices: 3, maxFailureRate: 0.3 },
        running: 3,
        qualifying: 3,
        healthyHoursTotal: 85,
        healthyHoursMin: 25,
        tried: 4,
        failed: 1,
        failureRate: 0.25,
        at: expect.any(String),
      },
    });
    // The file on disk, as an operator reads it.
    const onDisk = JSON.parse(await readFile(join(repoDir, historyPath(name, "stable")), "utf8"));
    expect(onDisk.entries.at(-1).promotion.by).toBe("alice");
  });

  it("the text form prints the figures it promoted on; without --by the OS user is recorded", async () => {
    await canaryFleet();
    const r = await runNode(
      PUBLISH_BIN,
      promoteArgs("--require-healthy-hours", "8", "--min-devices", "3", "--max-failure-rate", "25%"),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^3 device\(s\) on canary run det-\w+ 1\.1\.0, 3 of them with at least 8 healthy hours \(need 3\); healthy hours 70 in sum, 10 the least; failure rate 25% .*\npromoted: det-\w+ stable -> 1\.1\.0 at 100% \(sequence 2,/,
    );
    const entry = (await readHistory(repoDir, name, "stable")).at(-1);
    expect(entry?.promotion?.by).toBe((await import("node:os")).userInfo().username);
    expect(entry?.promotion?.reason).toBeUndefined();
  });

  it("refuses thresholds without --mqtt, and half a policy, as usage errors", async () => {
    const noBroker = await runNode(PUBLISH_BIN, [
      ...promoteArgs("--require-healthy-hours", "24", "--min-devices", "3", "--max-failure-rate", "0.1").filter(
        (a, i, all) => a !== "--mqtt" && all[i - 1] !== "--mqtt",
      ),
    ]);
    expect(noBroker.code).toBe(2);
    expect(noBroker.stderr).toBe("edge-publish: USAGE: promote needs --mqtt (see edge-publish promote --help)\n");
    const half = await runNode(PUBLISH_BIN, promoteArgs("--require-healthy-hours", "24"));
    expect(half.code).toBe(2);
    expect(half.stderr).toBe(
      "edge-publish: USAGE: --require-healthy-hours needs --min-devices and --max-failure-rate too (see edge-publish promote --help)\n",
    );
  });
});
