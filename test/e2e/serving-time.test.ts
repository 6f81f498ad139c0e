import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { type DeviceStatusMessage, deviceStatusTopic, type VersionHealth } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { SchemaValidator } from "../helpers/json-schema.js";
import { EXAMPLE_SERVICE, waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

/**
 * The daemon's serving-time accounting end to end: the real agent, the
 * example service it supervises, a broker. The figures reach the retained
 * status while it serves, a hang shows as unhealthy time, and what it counted
 * is in the journal after it stops (status --json, daemon down).
 */

const DEVICE = `dev-serving-${randomBytes(4).toString("hex")}`;
const schemas = new SchemaValidator();

/** Undone last first, whatever the test reached. */
const cleanups: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
});

const of = (s: DeviceStatusMessage | undefined, version: string): VersionHealth | undefined =>
  s?.versionHealth?.find((v) => v.version === version);

describe("serving time", () => {
  it("reaches the retained status while the service serves, counts a hang as unhealthy, and is in the journal after stop", async () => {
    const broker: TestBroker = await startTestBroker();
    cleanups.push(() => broker.close());
    const w = await World.create({ channel: `c${randomBytes(4).toString("hex")}`, healthTimeoutSeconds: 30 });
    cleanups.push(() => w.close());
    await w.writeConfig({
      healthTimeoutSeconds: 30,
      extraConfig: {
        deviceId: DEVICE,
        service: {
          mode: "supervise",
          command: [process.execPath, EXAMPLE_SERVICE],
          env: { PORT: String(w.servicePort) },
        },
        health: {
          url: `http://127.0.0.1:${w.servicePort}/ready`,
          timeoutSeconds: 30,
          probationSeconds: 1,
          intervalMs: 100,
          watchIntervalSeconds: 1,
        },
        mqtt: {
          url: broker.url,
          pushJitterSeconds: 0,
          fallbackPollIntervalSeconds: 3600,
          statusMinIntervalSeconds: 1,
          // The shortest heartbeat: it carries the growing figures.
          statusHeartbeatSeconds: 10,
        },
      },
    });
    const seen: DeviceStatusMessage[] = [];
    const watcher: MqttClient = await mqtt.connectAsync(broker.url, {
      clientId: `test-serving-${randomBytes(4).toString("hex")}`,
    });
    // A shared broker keeps retained statuses: leave none behind.
    cleanups.push(() =>
      watcher.publishAsync(deviceStatusTopic(DEVICE), "", { qos: 1, retain: true }).then(() => watcher.endAsync()),
    );
    watcher.on("message", (_topic, payload) => {
      if (payload.length > 0) seen.push(JSON.parse(payload.toString("utf8")) as DeviceStatusMessage);
    });
    await watcher.subscribeAsync(deviceStatusTopic(DEVICE), { qos: 1 });

    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor("v1 installed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 60_000);
    const healthy = await waitFor(
      "a status with healthy seconds on 1.0.0",
      () => seen.find((s) => s.online && (of(s, "1.0.0")?.healthySeconds ?? 0) >= 2),
      60_000,
      50,
    );
    expect(schemas.validate("device-status.json", healthy)).toEqual([]);
    expect(of(healthy, "1.0.0")).toMatchObject({ rollbacks: 0, denied: false });

    // The service stops answering: the health change sends a status, and the period it closed is unhealthy.
    const pid = (JSON.parse(await readFile(join(w.dataDir, "service.pid"), "utf8")) as { pid: number }).pid;
    let stopped = true;
    process.kill(pid, "SIGSTOP");
    cleanups.push(() => (stopped ? Promise.resolve(process.kill(pid, "SIGCONT")) : undefined));
    const hung = await waitFor(
      "a status with unhealthy seconds on 1.0.0",
      () => seen.find((s) => s.online && (of(s, "1.0.0")?.unhealthySeconds ?? 0) >= 1),
      60_000,
      50,
    );
    expect(hung.health?.ok).toBe(false);
    process.kill(pid, "SIGCONT");
    stopped = false;
    await agent.stop();

    // The daemon is down: status reads what it wrote, at least what it last reported.
    const status = await w.status();
    expect(schemas.validate("agent-status.json", status)).toEqual([]);
    const counted = status.versionHealth?.find((v) => v.version === "1.0.0");
    expect(counted?.healthySeconds).toBeGreaterThanOrEqual(of(hung, "1.0.0")?.healthySeconds ?? Number.NaN);
    expect(counted?.unhealthySeconds).toBeGreaterThanOrEqual(of(hung, "1.0.0")?.unhealthySeconds ?? Number.NaN);
  }, 150_000);
});
