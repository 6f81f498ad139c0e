import { randomBytes } from "node:crypto";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { publishChannel } from "../../publisher/commands/publish.js";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { withdraw } from "../../publisher/commands/withdraw.js";
import type { FleetSnapshot } from "../../publisher/fleet/fleet-state.js";
import { bundlePath } from "../../shared/repo-layout.js";
import { type DeviceStatusMessage, deviceStatusTopic, withdrawalsTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { freePort, PUBLISH_BIN, runNode, waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
let broker: TestBroker | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  await broker?.close();
  broker = undefined;
});

async function installed(w: World, version: string): Promise<void> {
  await waitFor(`${version} installed`, async () => {
    const s = await w.peekStatus();
    return s.activeVersion === version && s.phase === "idle";
  });
}

describe("a withdrawn release (real agent daemon, repository over HTTP)", () => {
  it("is never installed: not from the channel, not as a sideload", async () => {
    const w = await World.create();
    world = w;
    await w.release("1.0.0");
    w.startAgent();
    await installed(w, "1.0.0");

    await w.release("1.1.0", { publish: false });
    await withdraw({ repoDir: w.repoDir, name: w.name, version: "1.1.0", reason: "NaN outputs", keyPath: w.keyPath });
    // An operator's slip: the channel is pointed at it anyway.
    await publishChannel({
      repoDir: w.repoDir,
      name: w.name,
      version: "1.1.0",
      channel: w.channel,
      keyPath: w.keyPath,
      force: true,
    });
    const s = await waitFor("the withdrawn release refused", async () => {
      const st = await w.peekStatus();
      return st.lastCheck?.errorCode === "VERSION_WITHDRAWN" ? st : undefined;
    });
    expect(s.lastCheck?.error).toMatch(/^1\.1\.0 was withdrawn by the publisher at \S+: NaN outputs;/);

    const check = await w.cli(["check"]);
    expect(check.code).toBe(1);
    expect(check.stdout + check.stderr).toContain("VERSION_WITHDRAWN: 1.1.0 was withdrawn by the publisher");
    const sideload = await w.cli(["install", join(w.repoDir, bundlePath(w.name, "1.1.0"))]);
    expect(sideload.code).toBe(1);
    expect(sideload.stdout + sideload.stderr).toContain("VERSION_WITHDRAWN");

    const after = await w.status();
    expect(after).toMatchObject({ activeVersion: "1.0.0", state: "HEALTHY", withdrawn: null });
    expect((await w.cli(["history", "--json"])).stdout).not.toContain('"1.1.0"');
    expect(await w.servedVersion()).toBe("1.0.0");
  });

  it("a device running it moves to the channel's older release, past a rollout share that excludes it", async () => {
    const w = await World.create();
    world = w;
    await w.release("1.0.0");
    await w.release("1.1.0");
    const agent = w.startAgent();
    await installed(w, "1.1.0");

    // The channel names 1.0.0 for no device: without a withdrawal, 1.1.0 stays.
    const rollout = { repoDir: w.repoDir, name: w.name, channel: w.channel, keyPath: w.keyPath };
    await changeRollout({ ...rollout, action: { kind: "percent", percent: 0, version: "1.0.0" } });
    await waitFor("1.0.0 skipped by the share", async () =>
      (await w.peekStatus()).lastCheck?.outcome.startsWith("not-in-rollout"),
    );

    await withdraw({ repoDir: w.repoDir, name: w.name, version: "1.1.0", reason: "bad head", keyPath: w.keyPath });
    await installed(w, "1.0.0");
    const line = await agent.waitForLog(
      "the move logged",
      (l) => l.msg === "the active version is withdrawn; moving to the channel's release",
    );
    expect(line).toMatchObject({ from: "1.1.0", to: "1.0.0", reason: "bad head" });
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as {
      toVersion: string;
      source: string;
      result: string;
    }[];
    expect(history[0]).toMatchObject({ toVersion: "1.0.0", source: "poll:withdrawn", result: "succeeded" });
    expect(await w.servedVersion()).toBe("1.0.0");
    expect((await w.status()).state).toBe("HEALTHY");
  });

  it("with --keep-running it stays and reports WITHDRAWN in status, /status and the MQTT status", async () => {
    const b = await startTestBroker();
    broker = b;
    const port = await freePort();
    const w = await World.create({
      name: `wd-${randomBytes(3).toString("hex")}`,
      extraConfig: {
        localEndpoint: { port },
        mqtt: { url: b.url, pushJitterSeconds: 0, fallbackPollIntervalSeconds: 3600, statusMinIntervalSeconds: 0 },
      },
    });
    world = w;
    await w.release("1.0.0");
    await w.release("1.1.0");
    const agent = w.startAgent();
    await installed(w, "1.1.0");
    await agent.waitForLog("MQTT connected", (l) => l.msg === "MQTT connected");

    const watcher = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
    const statuses: DeviceStatusMessage[] = [];
    watcher.on("message", (_t, payload) => {
      if (payload.length > 0) statuses.push(JSON.parse(payload.toString()) as DeviceStatusMessage);
    });
    await watcher.subscribeAsync(deviceStatusTopic("dev-e2e-1"), { qos: 1 });
    try {
      // Pushed over MQTT: the device polls HTTP only hourly here.
      await withdraw({
        repoDir: w.repoDir,
        name: w.name,
        version: "1.1.0",
        reason: "drifts on night images",
        keyPath: w.keyPath,
        keepRunning: true,
        mqtt: { url: b.url },
      });
      const s = await waitFor("WITHDRAWN in status", async () => {
        const st = await w.peekStatus();
        return st.state === "WITHDRAWN" && st.lastCheck?.outcome.startsWith("withdrawn:") ? st : undefined;
      });
      expect(s).toMatchObject({
        activeVersion: "1.1.0",
        healthy: true,
        withdrawn: { version: "1.1.0", reason: "drifts on night images", action: "stay" },
      });
      const human = await w.cli(["status"]);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^State: +WITHDRAWN$/m);
      expect(human.stdout).toMatch(
        /^Withdrawn: +drifts on night images \(since \S+; kept running \(the publisher's choice\)\)$/m,
      );
      const endpoint = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { state: string; withdrawn: unknown };
      expect(endpoint).toMatchObject({ state: "WITHDRAWN", withdrawn: { action: "stay" } });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^edgepull_active_version_withdrawn 1$/m);
      await waitFor("the MQTT status says WITHDRAWN", () => statuses.find((m) => m.withdrawn?.action === "stay"), 15_000);
      // The fleet view reads that retained status: the device is marked, and counted on its version.
      const fleet = await runNode(PUBLISH_BIN, ["fleet", "--mqtt", b.url, "--json", "--wait-ms", "2000"], {}, 30_000);
      expect(fleet.code, fleet.stderr).toBe(0);
      const view = JSON.parse(fleet.stdout) as FleetSnapshot;
      expect(view.devices.find((d) => d.deviceId === "dev-e2e-1")).toMatchObject({
        activeVersion: "1.1.0",
        withdrawn: { version: "1.1.0", action: "stay", reason: "drifts on night images" },
      });
      expect(view.versions.find((v) => v.version === "1.1.0")).toMatchObject({ devices: 1, withdrawn: 1 });
      expect(await w.servedVersion()).toBe("1.1.0");
      await watcher.publishAsync(withdrawalsTopic(w.name), Buffer.alloc(0), { qos: 1, retain: true });
    } finally {
      await watcher.endAsync();
    }
  });
});
