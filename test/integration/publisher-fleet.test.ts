import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import type { PointerRow } from "../../publisher/fleet/fleet-pointers.js";
import type { DeviceRow, FleetSnapshot } from "../../publisher/fleet/fleet-state.js";
import { openFleetWatch } from "../../publisher/fleet/fleet-watch.js";
import type { WithdrawalListView } from "../../publisher/fleet/fleet-withdrawals.js";
import { nextWithdrawalList, signWithdrawalList } from "../../publisher/withdraw/withdrawal-file.js";
import { generateSigningKeyPair, parsePrivateKey } from "../../shared/signature.js";
import {
  channelTopic,
  type DeviceEvent,
  type DeviceStatusMessage,
  deviceEventsTopic,
  deviceStatusTopic,
  offlineStatus,
  withdrawalsTopic,
} from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { freePort, PUBLISH_BIN, type RunResult, runNode, waitFor } from "../helpers/processes.js";
import { writePointer } from "../helpers/repo-craft.js";

let broker: TestBroker;
const clients: MqttClient[] = [];
const retainedTopics = new Set<string>();
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  await ensurePublisherBuilt();
  broker = await startTestBroker();
}, 120_000);
afterAll(async () => {
  await broker.close();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  if (retainedTopics.size > 0) {
    const cleaner = await connect();
    for (const topic of retainedTopics) await cleaner.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
    retainedTopics.clear();
  }
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
});

/** Unique per test run: on a shared broker (MQTT_URL) other tests' devices are present too. */
const tag = (): string => randomBytes(3).toString("hex");

async function connect(opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  clients.push(client);
  return client;
}

async function retain(client: MqttClient, topic: string, payload: Buffer | string): Promise<void> {
  retainedTopics.add(topic);
  await client.publishAsync(topic, payload, { qos: 1, retain: true });
}

function status(id: string, extra: Partial<DeviceStatusMessage>): DeviceStatusMessage {
  return { schema: 1, deviceId: id, online: true, at: new Date().toISOString(), phase: "idle", ...extra };
}

/**
 * A device that goes away without saying goodbye: it connects with the offline
 * last-will, publishes a full status, then its socket is destroyed, so the broker
 * replaces the retained status with the will.
 */
async function vanishedDevice(id: string, activeVersion: string): Promise<void> {
  const will = {
    topic: deviceStatusTopic(id),
    payload: Buffer.from(JSON.stringify(offlineStatus(id))),
    qos: 1 as const,
    retain: true,
  };
  const device = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, will, keepalive: 5 });
  await retain(device, deviceStatusTopic(id), JSON.stringify(status(id, { activeVersion })));
  device.stream.destroy();
  const watcher = await connect();
  const lastWillSeen = new Promise<void>((resolve) =>
    watcher.on("message", (_t, payload) => {
      if (payload.length > 0 && (JSON.parse(payload.toString()) as DeviceStatusMessage).online === false) resolve();
    }),
  );
  await watcher.subscribeAsync(deviceStatusTopic(id), { qos: 1 });
  await lastWillSeen;
  device.end(true);
}

function cli(...args: string[]): Promise<RunResult> {
  return runNode(PUBLISH_BIN, args, {}, 30_000);
}

function mine(snapshot: FleetSnapshot, ids: string[]): Record<string, DeviceRow> {
  return Object.fromEntries(snapshot.devices.filter((d) => ids.includes(d.deviceId)).map((d) => [d.deviceId, d]));
}

describe("edge-publish fleet (built CLI)", () => {
  it("--json shows each device's retained status, the last-will as offline, withdrawn versions, and a per-version summary", async () => {
    const t = tag();
    const [good, bad, gone, kept] = [`good-${t}`, `bad-${t}`, `gone-${t}`, `kept-${t}`];
    const v1 = `1.${randomInt(1000, 9999)}.0`;
    const v2 = `2.${randomInt(1000, 9999)}.0`;
    const v3 = `3.${randomInt(1000, 9999)}.0`;
    const publisher = await connect();
    const withdrawn = { version: v3, reason: "NaN outputs", action: "stay", withdrawnAt: "2026-03-01T08:00:00.000Z" };
    await retain(
      publisher,
      deviceStatusTopic(kept),
      JSON.stringify(status(kept, { activeVersion: v3, health: { ok: true, status: 200 }, withdrawn })),
    );
    await retain(
      publisher,
      deviceStatusTopic(good),
      JSON.stringify(
        status(good, {
          activeVersion: v2,
          lastResult: { version: v2, result: "succeeded", errorCode: null, at: "2026-03-01T09:00:00.000Z" },
          health: { ok: true, status: 200 },
          at: "2026-03-01T09:01:00.000Z",
        }),
      ),
    );
    await retain(
      publisher,
      deviceStatusTopic(bad),
      JSON.stringify(
        status(bad, {
          activeVersion: v1,
          lastResult: { version: v2, result: "rolled_back", errorCode: "HEALTH_TIMEOUT", at: null },
          health: { ok: true, status: 200 },
          at: "2026-03-01T09:02:00.000Z",
        }),
      ),
    );
    await vanishedDevice(gone, v1);
    await retain(publisher, deviceStatusTopic(`junk-${t}`), "{not json");

    const r = await cli("fleet", "--mqtt", broker.url, "--json", "--wait-ms", "3000");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`^edge-publish: warning: skipped a message on "edgepull/v1/devices/junk-${t}/status": not JSON$`, "m"),
    );
    const snapshot = JSON.parse(r.stdout) as FleetSnapshot;
    const rows = mine(snapshot, [good, bad, gone, kept]);
    expect(rows[kept]).toMatchObject({ online: true, activeVersion: v3, withdrawn });
    expect(rows[good]).toMatchObject({
      withdrawn: null,
      online: true,
      activeVersion: v2,
      lastResult: { result: "succeeded" },
      health: { ok: true },
      lastSeen: "2026-03-01T09:01:00.000Z",
      lastSeenSource: "device",
    });
    expect(rows[bad]).toMatchObject({
      online: true,
      activeVersion: v1,
      lastResult: { result: "rolled_back", errorCode: "HEALTH_TIMEOUT", version: v2 },
    });
    // A fleet view started after the device vanished sees only the will: offline, nothing else known.
    expect(rows[gone]).toMatchObject({ online: false, activeVersion: null, lastSeenSource: "fleet-view" });
    expect(snapshot.devices.some((d) => d.deviceId === `junk-${t}`)).toBe(false);
    expect(snapshot.versions.filter((v) => v.version === v1 || v.version === v2 || v.version === v3)).toEqual([
      { version: v3, devices: 1, online: 1, failed: 0, withdrawn: 1 },
      { version: v2, devices: 1, online: 1, failed: 0, withdrawn: 0 },
      { version: v1, devices: 1, online: 1, failed: 1, withdrawn: 0 },
    ]);
    const none = snapshot.versions.find((v) => v.version === null);
    expect(none?.devices).toBe(snapshot.devices.filter((d) => d.activeVersion === null).length);

    const text = await cli("fleet", "--mqtt", broker.url, "--wait-ms", "3000");
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split("\n");
    expect(lines[0]).toMatch(/^DEVICE +ONLINE +ACTIVE +PHASE +LAST RESULT +HEALTH +LAST SEEN$/);
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${bad} +yes +${v1} +idle +rolled_back HEALTH_TIMEOUT \\(${v2}\\) +ok +2026-03-01T09:02:00Z$`),
      ),
    );
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${gone} +no +- +- +- +- +\\S+ \\(heard\\)$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${kept} +yes +${v3} WITHDRAWN \\(kept\\) +idle +- +ok `)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${v1.replace(/\./g, "\\.")} +1 +1 +1 +0$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${v3.replace(/\./g, "\\.")} +1 +1 +0 +1$`)));
  });

  it("an unreachable broker: exit 1 with one MQTT_ERROR line, for fleet and for publish --mqtt", async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const fleet = await cli("fleet", "--mqtt", url);
    expect(fleet.code).toBe(1);
    expect(fleet.stdout).toBe("");
    expect(fleet.stderr).toMatch(new RegExp(`^edge-publish: MQTT_ERROR: cannot reach the MQTT broker at ${url}: .+\\n$`));

    const root = await mkdtemp(join(tmpdir(), "edgepull-fleet-cli-"));
    try {
      const repo = join(root, "repo");
      const key = (await keygen({ outDir: join(root, "keys") })).privateKeyPath;
      await mkdir(join(root, "model"));
      await writeFile(join(root, "model", "w.bin"), "w");
      const name = `cli-${tag()}`;
      await buildRelease({ modelDir: join(root, "model"), name, version: "1.0.0", repoDir: repo, keyPath: key });
      const args = ["publish", "--repo", repo, "--name", name, "--version", "1.0.0", "--channel", "stable", "--key", key];
      const failed = await cli(...args, "--mqtt", url);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(
        /^edge-publish: MQTT_ERROR: cannot reach the MQTT broker at .+ was written; only the broker is behind\)\n$/,
      );

      retainedTopics.add(`edgepull/v1/${name}/channels/stable`);
      const ok = await cli(...args, "--mqtt", broker.url, "--json");
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({
        version: "1.0.0",
        sequence: 2,
        mqtt: { topic: `edgepull/v1/${name}/channels/stable` },
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("warns about each retained channel pointer that expired or expires within --warn-days, text and --json", async () => {
    const name = `expiring-${tag()}`;
    const dir = await mkdtemp(join(tmpdir(), "edgepull-fleet-pointers-"));
    const key = parsePrivateKey(generateSigningKeyPair().privatePem, "fleet-test");
    const day = 24 * 3600 * 1000;
    const publisher = await connect();
    try {
      for (const [channel, days] of [
        ["soon", 3],
        ["later", 20],
        ["gone", -1],
      ] as const) {
        const text = await writePointer(dir, {
          name,
          channel,
          version: "1.0.0",
          sequence: 4,
          releaseText: "{}",
          keys: [key],
          expiresAt: new Date(Date.now() + days * day).toISOString(),
        });
        await retain(publisher, channelTopic(name, channel), text);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const r = await cli("fleet", "--mqtt", broker.url, "--json", "--wait-ms", "3000", "--warn-days", "7");
    expect(r.code, r.stderr).toBe(0);
    const snapshot = JSON.parse(r.stdout) as FleetSnapshot & { pointers: PointerRow[]; warnings: string[] };
    const flags = snapshot.pointers
      .filter((p) => p.name === name)
      .map((p) => [p.channel, p.version, p.sequence, p.expired, p.expiresSoon]);
    expect(flags).toEqual([
      ["gone", "1.0.0", 4, true, false],
      ["later", "1.0.0", 4, false, false],
      ["soon", "1.0.0", 4, false, true],
    ]);
    const warnings = snapshot.warnings.filter((w) => w.includes(` ${name} `));
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`^warning: ${name} gone \\(1\\.0\\.0, sequence 4\\) EXPIRED at `)),
      expect.stringMatching(new RegExp(`^warning: ${name} soon \\(1\\.0\\.0, sequence 4\\) expires at \\S+, in (2\\.9|3) days`)),
    ]);

    const text = await cli("fleet", "--mqtt", broker.url, "--wait-ms", "3000", "--warn-days", "30");
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split("\n").filter((l) => l.includes(` ${name} `));
    expect(lines.map((l) => /^warning: \S+ (\S+) /.exec(l)?.[1])).toEqual(["gone", "later", "soon"]);
  });

  it("warns about each retained withdrawal list that expired or expires within --warn-days, text and --json", async () => {
    const t = tag();
    const key = parsePrivateKey(generateSigningKeyPair().privatePem, "fleet-test");
    const entries = [{ version: "1.0.0", reason: "NaN outputs", withdrawnAt: new Date().toISOString(), action: "move" as const }];
    const publisher = await connect();
    for (const [name, days] of [
      [`wsoon-${t}`, 3],
      [`wlater-${t}`, 20],
      [`wgone-${t}`, -1],
    ] as const) {
      // Signed `30 - days` days ago for 30 days: `days` left now.
      const list = nextWithdrawalList(name, 2, entries, new Date(Date.now() - (30 - days) * 86_400_000), 30);
      await retain(publisher, withdrawalsTopic(name), signWithdrawalList(list, key));
    }
    const r = await cli("fleet", "--mqtt", broker.url, "--json", "--wait-ms", "3000", "--warn-days", "7");
    expect(r.code, r.stderr).toBe(0);
    const snapshot = JSON.parse(r.stdout) as FleetSnapshot & { withdrawalLists: WithdrawalListView[]; warnings: string[] };
    const flags = snapshot.withdrawalLists
      .filter((l) => l.name.endsWith(`-${t}`))
      .map((l) => [l.name, l.sequence, l.entries, l.expired, l.expiresSoon]);
    expect(flags).toEqual([
      [`wgone-${t}`, 3, 1, true, false],
      [`wlater-${t}`, 3, 1, false, false],
      [`wsoon-${t}`, 3, 1, false, true],
    ]);
    expect(snapshot.warnings.filter((w) => w.includes(`-${t} `))).toEqual([
      expect.stringMatching(new RegExp(`^warning: withdrawal list of wgone-${t} \\(sequence 3, 1 withdrawn\\) EXPIRED at `)),
      expect.stringMatching(
        new RegExp(`^warning: withdrawal list of wsoon-${t} \\(sequence 3, 1 withdrawn\\) expires at \\S+, in (2\\.9|3) days`),
      ),
    ]);

    const text = await cli("fleet", "--mqtt", broker.url, "--wait-ms", "3000", "--warn-days", "30");
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split("\n").filter((l) => l.includes(`-${t} `));
    expect(lines.map((l) => /^warning: withdrawal list of (\w+)-/.exec(l)?.[1])).toEqual(["wgone", "wlater", "wsoon"]);
  });

  it("--watch --json prints one line per change until SIGINT", async () => {
    const id = `watched-${tag()}`;
    const child = spawn(process.execPath, [PUBLISH_BIN, "fleet", "--mqtt", broker.url, "--watch", "--json", "--wait-ms", "500"]);
    children.push(child);
    const lines: FleetSnapshot[] = [];
    let buffer = "";
    child.stdout.on("data", (d: Buffer) => {
      buffer += d.toString();
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        lines.push(JSON.parse(buffer.slice(0, nl)) as FleetSnapshot);
        buffer = buffer.slice(nl + 1);
      }
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await waitFor("the first fleet snapshot", () => lines.length > 0, 10_000, 20);

    const device = await connect();
    await retain(device, deviceStatusTopic(id), JSON.stringify(status(id, { activeVersion: "1.0.0" })));
    const seen = (pred: (d: DeviceRow) => boolean) => () =>
      lines.some((s) => s.devices.some((d) => d.deviceId === id && pred(d)));
    await waitFor(
      "the new device in a snapshot",
      seen((d) => d.online),
      10_000,
      20,
    );

    const failed: DeviceEvent = {
      schema: 1,
      deviceId: id,
      name: "demo-model",
      type: "failed",
      at: new Date(Date.now() + 1000).toISOString(),
      version: "1.1.0",
      fromVersion: "1.0.0",
      attempt: 1,
      errorCode: "DIGEST_MISMATCH",
      error: "x",
      durationMs: 1,
      bytes: 1,
    };
    await device.publishAsync(deviceEventsTopic(id), JSON.stringify(failed), { qos: 1 });
    await waitFor(
      "the failure event in a snapshot",
      seen((d) => d.lastResult?.errorCode === "DIGEST_MISMATCH"),
      10_000,
      20,
    );

    child.kill("SIGINT");
    expect(await exited).toBe(0);
  });
});

describe("openFleetWatch", () => {
  it("follows a live device from status to last-will, keeping what it last said", async () => {
    const id = `live-${tag()}`;
    const warnings: string[] = [];
    const watch = await openFleetWatch({ settings: { url: broker.url }, maxWaitMs: 500, onWarning: (w) => warnings.push(w) });
    try {
      await watch.settled;
      const will = {
        topic: deviceStatusTopic(id),
        payload: Buffer.from(JSON.stringify(offlineStatus(id))),
        qos: 1 as const,
        retain: true,
      };
      const device = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, will });
      await retain(
        device,
        deviceStatusTopic(id),
        JSON.stringify(status(id, { activeVersion: "3.0.0", at: "2026-03-01T08:00:00.000Z" })),
      );
      await waitFor("the device online", () => watch.fleet.get(id)?.online === true, 10_000, 20);
      await device.publishAsync(deviceEventsTopic(id), Buffer.alloc(70 * 1024, 0x7b), { qos: 1 });
      device.stream.destroy();
      await waitFor("the last-will", () => watch.fleet.get(id)?.online === false, 10_000, 20);
      device.end(true);
      expect(watch.fleet.get(id)).toMatchObject({ activeVersion: "3.0.0", deviceAt: "2026-03-01T08:00:00.000Z" });
      expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`devices/${id}/events.*71680 bytes; at most 65536`)));
    } finally {
      await watch.close();
    }
  });

  it("sees every retained status of a fleet larger than Mosquitto's default per-client queue (1000)", async () => {
    const t = tag();
    const ids = Array.from({ length: 1500 }, (_, i) => `big-${t}-${i}`);
    const publisher = await connect();
    await Promise.all(
      ids.map((id) => retain(publisher, deviceStatusTopic(id), JSON.stringify(status(id, { activeVersion: "9.0.0" })))),
    );
    const watch = await openFleetWatch({ settings: { url: broker.url }, maxWaitMs: 10_000, quietMs: 1000, onWarning: () => {} });
    try {
      await watch.settled;
      expect(ids.filter((id) => !watch.fleet.has(id))).toHaveLength(0);
    } finally {
      await watch.close();
    }
  });
});
