import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IPublishPacket, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { readInventory } from "../../agent/telemetry/inventory.js";
import { type ReporterTimers, type StatusFields, StatusReporter } from "../../agent/telemetry/status-reporter.js";
import {
  type DeviceEvent,
  type DeviceStatusMessage,
  deviceEventsTopic,
  deviceStatusTopic,
  offlineStatus,
} from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ManualTimers } from "../helpers/manual-timers.js";
import { waitFor } from "../helpers/processes.js";

let broker: TestBroker;
let dataDir: string;
const clients: MqttClient[] = [];
const reporters: StatusReporter[] = [];
const usedDevices: string[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  dataDir = await mkdtemp(join(tmpdir(), "edgepull-status-"));
});

afterEach(async () => {
  await Promise.all(reporters.splice(0).map((r) => r.stop({ offline: false })));
  // A graceful end sends DISCONNECT, so no last-will lands after the cleanup below.
  await Promise.all(clients.splice(0).map((c) => c.endAsync(false)));
  // The shared broker keeps retained statuses forever unless told otherwise.
  const cleaner = await connect("clean");
  for (const id of usedDevices.splice(0)) await cleaner.publishAsync(deviceStatusTopic(id), "", { qos: 1, retain: true });
  await cleaner.endAsync(false);
  clients.splice(0);
});

afterAll(async () => {
  await broker.close();
  await rm(dataDir, { recursive: true, force: true });
});

function newDeviceId(): string {
  const id = `test-${randomBytes(6).toString("hex")}`;
  usedDevices.push(id);
  return id;
}

async function connect(role: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.url, {
    clientId: `edgepull-test-${role}-${randomBytes(4).toString("hex")}`,
    reconnectPeriod: 100,
    ...opts,
  });
  clients.push(client);
  return client;
}

/** The device's own connection, with the last-will the agent sets. */
function deviceClient(deviceId: string): Promise<MqttClient> {
  return connect("device", {
    will: {
      topic: deviceStatusTopic(deviceId),
      payload: Buffer.from(JSON.stringify(offlineStatus(deviceId))),
      qos: 1,
      retain: true,
    },
  });
}

interface Seen<T> {
  body: T;
  packet: IPublishPacket;
}

/** Everything published on `topic` from now on, in arrival order. */
async function watch<T>(topic: string): Promise<Seen<T>[]> {
  const seen: Seen<T>[] = [];
  const client = await connect("watch");
  client.on("message", (t, payload, packet) => {
    if (t === topic && payload.length > 0) seen.push({ body: JSON.parse(payload.toString()) as T, packet });
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return seen;
}

/** What a subscriber arriving now is told: the retained status, if any. */
async function retainedStatus(deviceId: string): Promise<DeviceStatusMessage | undefined> {
  const client = await connect("late");
  try {
    return await new Promise<DeviceStatusMessage | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 300);
      client.on("message", (_t, payload, packet) => {
        if (!packet.retain || payload.length === 0) return;
        clearTimeout(timer);
        resolve(JSON.parse(payload.toString()) as DeviceStatusMessage);
      });
      void client.subscribeAsync(deviceStatusTopic(deviceId), { qos: 1 });
    });
  } finally {
    await client.endAsync(true);
  }
}

/** A StatusSource the test steers; it counts its calls so a test knows a cycle has run. */
function fakeSource(initial: StatusFields = { name: "detector", channel: "stable", activeVersion: "1.0.0", phase: "idle" }) {
  const state = { fields: { ...initial }, calls: 0 };
  const source = async (): Promise<StatusFields> => {
    state.calls++;
    return { ...state.fields };
  };
  return { state, source };
}

function reporter(
  client: MqttClient,
  deviceId: string,
  source: () => Promise<StatusFields>,
  minIntervalMs: number,
  timers?: ReporterTimers,
): StatusReporter {
  const r = new StatusReporter({
    timers,
    client,
    deviceId,
    source,
    dataDir,
    minIntervalMs,
    heartbeatMs: 600_000,
    logger: silentLogger(),
  });
  reporters.push(r);
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const online = (seen: Seen<DeviceStatusMessage>[]) => seen.filter((s) => s.body.online);

describe(`status reporter (${process.env.MQTT_URL ? `broker at ${process.env.MQTT_URL}` : "aedes in-process"})`, () => {
  it("reads a sane inventory without throwing, even for a missing folder", async () => {
    const inv = await readInventory(dataDir);
    expect(inv.cpu.cores).toBeGreaterThanOrEqual(1);
    expect(inv.memory.totalBytes).toBeGreaterThan(0);
    expect(inv.memory.availableBytes).toBeGreaterThanOrEqual(0);
    expect(inv.memory.availableBytes).toBeLessThanOrEqual(inv.memory.totalBytes);
    expect(inv.arch).not.toBe("");
    expect(inv.kernel).not.toBe("");
    expect(inv.disk?.sizeBytes).toBeGreaterThan(0);
    expect(inv.disk?.availableBytes).toBeLessThanOrEqual(inv.disk?.sizeBytes ?? 0);
    expect(inv.temperatureC === null || Number.isFinite(inv.temperatureC)).toBe(true);

    const missing = await readInventory(join(dataDir, "no", "such", "folder"));
    expect(missing.disk).toBeNull();
    expect(missing.cpu.cores).toBe(inv.cpu.cores);
  });

  it("start() leaves a retained online status that a late subscriber receives", async () => {
    const id = newDeviceId();
    const client = await deviceClient(id);
    const { source } = fakeSource();
    reporter(client, id, source, 100).start();

    const status = await waitFor("retained online status", () => retainedStatus(id), 10_000, 50);
    expect(status).toMatchObject({ schema: 1, deviceId: id, online: true, phase: "idle", activeVersion: "1.0.0" });
    expect(Number.isNaN(Date.parse(status.at ?? ""))).toBe(false);
    expect(status.inventory?.cpu.cores).toBeGreaterThanOrEqual(1);
    expect(status.inventory?.memory.totalBytes).toBeGreaterThan(0);
    expect(status.inventory?.arch).not.toBe("");
  });

  it("coalesces a burst of changes within minIntervalMs into at most two messages, the last one current", async () => {
    const id = newDeviceId();
    const seen = await watch<DeviceStatusMessage>(deviceStatusTopic(id));
    const client = await deviceClient(id);
    const { state, source } = fakeSource();
    const minIntervalMs = 500;
    // Time moves only when the test advances it: the burst takes 100 ms of the reporter's clock, however loaded the machine.
    const timers = new ManualTimers();
    const r = reporter(client, id, source, minIntervalMs, timers);
    r.start();
    await timers.advance(0);
    await waitFor("first status", () => seen.length === 1, 10_000, 20);
    // Past the interval, so the first change of the burst may go out at once.
    await timers.advance(minIntervalMs + 50);

    for (let i = 0; i < 20; i++) {
      state.fields.phase = `downloading-${i}`;
      r.notifyChange();
      if (i % 4 === 0) await timers.advance(20);
    }
    await timers.advance(minIntervalMs);
    await waitFor("the burst's last phase", () => seen.at(-1)?.body.phase === "downloading-19", 10_000, 20);
    // Anything still queued would go out within one more interval. Then one more change, as a
    // barrier: messages from one client arrive in order, so once it is seen, all sent before it are.
    await timers.advance(minIntervalMs + 200);
    state.fields.phase = "barrier";
    r.notifyChange();
    await timers.advance(minIntervalMs);
    await waitFor("the barrier status", () => seen.at(-1)?.body.phase === "barrier", 10_000, 20);
    const burst = seen.slice(1, -1);
    expect(burst.length).toBeGreaterThanOrEqual(1);
    expect(burst.length).toBeLessThanOrEqual(2);
    expect(burst.at(-1)?.body.phase).toBe("downloading-19");
  });

  it("sends nothing when notifyChange finds the status unchanged", async () => {
    const id = newDeviceId();
    const seen = await watch<DeviceStatusMessage>(deviceStatusTopic(id));
    const client = await deviceClient(id);
    const { state, source } = fakeSource();
    const r = reporter(client, id, source, 20);
    r.start();
    await waitFor("first status", () => seen.length === 1, 10_000, 20);

    for (let i = 0; i < 3; i++) {
      const before = state.calls;
      r.notifyChange();
      await waitFor("the source to be consulted", () => state.calls > before, 5000, 5);
      await sleep(30);
    }
    // Messages from one client arrive in order: this one is a barrier for anything sent before it.
    state.fields.phase = "verifying";
    r.notifyChange();
    await waitFor("the changed status", () => seen.some((s) => s.body.phase === "verifying"), 10_000, 20);
    expect(seen.map((s) => s.body.phase)).toEqual(["idle", "verifying"]);
  });

  it("publishes events with QoS 1, not retained, and keeps those raised while disconnected", async () => {
    const id = newDeviceId();
    const events = await watch<DeviceEvent>(deviceEventsTopic(id));
    const client = await deviceClient(id);
    const r = reporter(client, id, fakeSource().source, 100);
    r.start();
    const event = {
      name: "demo-model",
      type: "succeeded" as const,
      version: "1.1.0",
      fromVersion: "1.0.0",
      attempt: 3,
      errorCode: null,
      error: null,
      durationMs: 1234,
      bytes: 5678,
    };
    r.publishEvent(event);
    await waitFor("the event", () => events.length === 1, 10_000, 20);
    expect(events[0]?.packet.qos).toBe(1);
    expect(events[0]?.packet.retain).toBe(false);
    expect(events[0]?.body).toMatchObject({ schema: 1, deviceId: id, ...event });
    expect(Number.isNaN(Date.parse(events[0]?.body.at ?? ""))).toBe(false);

    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.stream.destroy();
    await closed;
    expect(client.connected).toBe(false);
    r.publishEvent({ ...event, type: "rolled_back", version: "1.2.0" });
    await waitFor("the event raised while offline", () => events.length === 2, 10_000, 20);
    expect(events[1]?.body).toMatchObject({ type: "rolled_back", version: "1.2.0", deviceId: id });
  });

  it("stop({ offline: true }) leaves a retained offline status and removes its listener", async () => {
    const id = newDeviceId();
    const client = await deviceClient(id);
    const listenersBefore = client.listenerCount("connect");
    const { state, source } = fakeSource();
    const r = reporter(client, id, source, 100);
    r.start();
    expect(client.listenerCount("connect")).toBe(listenersBefore + 1);
    await waitFor("retained online status", async () => (await retainedStatus(id))?.online === true, 10_000, 50);

    await r.stop({ offline: true });
    expect(client.listenerCount("connect")).toBe(listenersBefore);
    const status = await retainedStatus(id);
    const { at, ...rest } = status ?? { at: null };
    expect(rest).toEqual({ schema: 1, deviceId: id, online: false });
    expect(Number.isNaN(Date.parse(at ?? ""))).toBe(false);

    // Stopped means stopped: a change after stop() publishes nothing over the offline status.
    state.fields.phase = "downloading";
    r.notifyChange();
    await sleep(300);
    expect((await retainedStatus(id))?.online).toBe(false);
  });

  it("publishes nothing from a cycle still running when stop() returned", async () => {
    const id = newDeviceId();
    const seen = await watch<DeviceStatusMessage>(deviceStatusTopic(id));
    const client = await deviceClient(id);
    const { state, source } = fakeSource();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let gated = false;
    const r = reporter(
      client,
      id,
      async () => {
        const fields = await source();
        if (gated) await gate;
        return fields;
      },
      20,
    );
    r.start();
    await waitFor("first status", () => seen.length === 1, 10_000, 20);

    gated = true;
    state.fields.phase = "activating";
    const calls = state.calls;
    r.notifyChange();
    await waitFor("the cycle to be waiting on its source", () => state.calls > calls, 5000, 5);
    await r.stop({ offline: true });
    await waitFor("the offline status", () => seen.at(-1)?.body.online === false, 10_000, 20);
    release();
    await sleep(300);
    expect(seen.map((s) => [s.body.online, s.body.phase])).toEqual([
      [true, "idle"],
      [false, undefined],
    ]);
  });

  it("sends a fresh status after the connection drops and mqtt.js reconnects, unchanged or not", async () => {
    const id = newDeviceId();
    const seen = await watch<DeviceStatusMessage>(deviceStatusTopic(id));
    const client = await deviceClient(id);
    const { state, source } = fakeSource();
    reporter(client, id, source, 50).start();
    await waitFor("first status", () => online(seen).length === 1, 10_000, 20);
    const callsBefore = state.calls;

    client.stream.destroy();
    // The last-will (offline) may land in between; what matters is that the device corrects it.
    await waitFor("a fresh online status after reconnecting", () => online(seen).length >= 2, 10_000, 20);
    expect(state.calls).toBeGreaterThan(callsBefore);
    await waitFor("online as the last word", () => seen.at(-1)?.body.online === true, 5000, 20);
    expect((await retainedStatus(id))?.online).toBe(true);
  });
});
