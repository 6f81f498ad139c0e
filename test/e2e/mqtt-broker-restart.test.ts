import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { channelPointerPath } from "../../shared/repo-layout.js";
import {
  channelTopic,
  type DeviceEvent,
  type DeviceStatusMessage,
  deviceEventsTopic,
  deviceStatusTopic,
} from "../../shared/topics.js";
import { hasMosquitto, startAedes, startPrivateMosquitto, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/processes.js";
import { expectSettled } from "../helpers/settled.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
let broker: TestBroker | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await world?.close();
  world = undefined;
  await broker?.close();
  broker = undefined;
});

async function startBroker(port?: number): Promise<TestBroker & { port: number }> {
  if (await hasMosquitto()) return startPrivateMosquitto(port);
  const b = await startAedes(port ?? 0);
  return { ...b, port: Number(new URL(b.url).port) };
}

function observe(url: string, deviceId: string) {
  const statuses: DeviceStatusMessage[] = [];
  const events: DeviceEvent[] = [];
  const client = mqtt.connect(url, { clientId: `observer-${randomBytes(4).toString("hex")}`, reconnectPeriod: 200 });
  clients.push(client);
  client.on("connect", () => client.subscribe([deviceStatusTopic(deviceId), deviceEventsTopic(deviceId)], { qos: 1 }));
  client.on("message", (topic, payload) => {
    if (payload.length === 0) return;
    const msg = JSON.parse(payload.toString());
    if (topic.endsWith("/status")) statuses.push(msg);
    else events.push(msg);
  });
  return { statuses, events };
}

describe("a broker restart in the middle of an update", () => {
  it("loses neither the update nor the device's status", async () => {
    let b = await startBroker();
    broker = b;
    const channel = `c${randomBytes(4).toString("hex")}`;
    const w = await World.create({
      channel,
      probationSeconds: 3,
      extraConfig: { mqtt: { url: b.url, pushJitterSeconds: 0, fallbackPollIntervalSeconds: 3600, statusMinIntervalSeconds: 0 } },
    });
    world = w;
    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor("v1 committed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 30_000);
    await agent.waitForLog("MQTT connected", (l) => l.msg === "MQTT connected");
    const before = observe(b.url, "dev-e2e-1");
    await waitFor("the v1 status on the broker", () => before.statuses.find((s) => s.online && s.activeVersion === "1.0.0"));

    await w.release("2.0.0");
    const push = await mqtt.connectAsync(b.url, { clientId: `pusher-${randomBytes(4).toString("hex")}` });
    await push.publishAsync(channelTopic(w.name, channel), await readFile(join(w.repoDir, channelPointerPath(w.name, channel))), {
      qos: 1,
      retain: true,
    });
    await push.endAsync();
    await agent.waitForLog("the v2 attempt", (l) => l.msg === "attempt started" && l.to === "2.0.0");

    // Down and up again on the same port, with no retained state kept.
    const downAt = Date.now();
    await b.close();
    await new Promise((r) => setTimeout(r, 300));
    b = await startBroker(b.port);
    broker = b;
    const upAt = Date.now();
    const after = observe(b.url, "dev-e2e-1");

    await waitFor("v2 committed", async () => (await w.peekStatus()).phase === "idle", 40_000);
    await expectSettled(w, agent, { active: "2.0.0", last: { to: "2.0.0", result: "succeeded", errorCode: null } });
    // The broker really was away in the middle of the attempt, as the journal's own times show.
    const [attempt] = await w.history();
    expect(Date.parse(attempt?.startedAt ?? "")).toBeLessThanOrEqual(downAt);
    expect(Date.parse(attempt?.finishedAt ?? "")).toBeGreaterThanOrEqual(upAt);
    expect((await w.history()).map((h) => `${h.toVersion}:${h.result}`)).toEqual(["2.0.0:succeeded", "1.0.0:succeeded"]);
    const final = await waitFor(
      "a fresh status on the restarted broker",
      () => after.statuses.find((s) => s.online && s.activeVersion === "2.0.0" && s.phase === "idle"),
      30_000,
    );
    expect(final.inventory?.cpu.cores).toBeGreaterThan(0);
    await waitFor(
      "the succeeded event",
      () => [...before.events, ...after.events].some((e) => e.type === "succeeded" && e.version === "2.0.0"),
      15_000,
    );
    const allEvents = [...before.events, ...after.events].filter((e) => e.version === "2.0.0");
    expect(allEvents.map((e) => e.type)).toContain("update_started");
    // Every event names the model, so a rollout watch on a shared broker counts only its own devices.
    expect(allEvents.every((e) => (e as { name?: string }).name === w.name)).toBe(true);
    expect(agent.hasLog((l) => l.msg === "MQTT reconnected")).toBe(true);
  });

  it("copes with a broker that is down at start, and the broker announces a killed device offline by its last-will", async () => {
    // A port where a broker ran a moment ago and none runs now.
    const first = await startBroker();
    const port = first.port;
    await first.close();
    const channel = `c${randomBytes(4).toString("hex")}`;
    const w = await World.create({
      channel,
      extraConfig: {
        mqtt: {
          url: `mqtt://127.0.0.1:${port}`,
          pushJitterSeconds: 0,
          fallbackPollIntervalSeconds: 3600,
          statusMinIntervalSeconds: 0,
        },
      },
    });
    world = w;
    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor(
      "v1 installed by the first poll, broker or not",
      async () => {
        const st = await w.peekStatus();
        return st.phase === "idle" && st.activeVersion === "1.0.0";
      },
      30_000,
    );
    await agent.waitForLog(
      "a failed connection attempt",
      (l) => l.msg === "MQTT connection lost; retrying" || l.msg === "MQTT error",
    );

    const b = await startBroker(port);
    broker = b;
    const seen = observe(b.url, "dev-e2e-1");
    await waitFor(
      "the agent connected late",
      () => agent.lines.some((l) => l.msg === "MQTT reconnected" || l.msg === "MQTT connected"),
      70_000,
    );
    await w.release("2.0.0");
    const push = await mqtt.connectAsync(b.url, { clientId: `pusher-${randomBytes(4).toString("hex")}` });
    await push.publishAsync(channelTopic(w.name, channel), await readFile(join(w.repoDir, channelPointerPath(w.name, channel))), {
      qos: 1,
      retain: true,
    });
    await push.endAsync();
    await waitFor("v2 by push", async () => (await w.servedVersion()) === "2.0.0", 30_000);
    await waitFor("an online status for v2", () => seen.statuses.find((s) => s.online && s.activeVersion === "2.0.0"), 30_000);

    agent.kill("SIGKILL");
    await agent.exited;
    const will = await waitFor("the last-will", () => seen.statuses.find((s) => !s.online), 30_000);
    expect(will).toEqual({ schema: 1, deviceId: "dev-e2e-1", online: false, at: null });
  });
});
