import { randomBytes } from "node:crypto";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { bundlePath } from "../../shared/repo-layout.js";
import { type DeviceStatusMessage, deviceStatusTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { SchemaValidator } from "../helpers/json-schema.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

const schemas = new SchemaValidator();

let world: World | undefined;
let broker: TestBroker | undefined;
let watcher: MqttClient | undefined;
let device: string | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  if (watcher && device) {
    // A shared broker keeps retained statuses: leave none behind.
    await watcher.publishAsync(deviceStatusTopic(device), "", { qos: 1, retain: true });
    await watcher.endAsync();
  }
  watcher = undefined;
  await broker?.close();
  broker = undefined;
});

/** Runs an edge-agent command with --json; its stdout must be one value of `schema`. */
async function cliJson<T>(w: World, schema: string, exit: number, ...args: string[]): Promise<T> {
  const r = await w.cli([...args, "--json"]);
  expect(r.code, r.stderr).toBe(exit);
  const value = JSON.parse(r.stdout) as T;
  expect(schemas.validate(schema, value), r.stdout).toEqual([]);
  return value;
}

interface WithAttempt {
  attempt: Record<string, unknown> | null;
}

const keysOf = (attempt: Record<string, unknown> | null | undefined): string[] => Object.keys(attempt ?? {}).sort();

describe("edge-agent --json: one shape per concept, checked against schemas/", () => {
  it("check, install, rollback, history and status print the same attempt fields, each valid against its schema", async () => {
    world = await World.create();
    const w = world;
    await w.release("1.0.0");
    const first = await cliJson<WithAttempt & { ok: boolean }>(w, "agent-check.json", 0, "check");
    expect(first.attempt).toMatchObject({ kind: "update", fromVersion: null, toVersion: "1.0.0", result: "succeeded" });
    expect(JSON.stringify(first)).not.toContain("releaseJson");

    const upToDate = await cliJson<WithAttempt>(w, "agent-check.json", 0, "check");
    expect(upToDate.attempt).toBeNull();

    await w.release("2.0.0", { publish: false });
    const installed = await cliJson<WithAttempt>(
      w,
      "agent-install.json",
      0,
      "install",
      join(w.repoDir, bundlePath(w.name, "2.0.0")),
    );
    expect(installed.attempt).toMatchObject({ source: "sideload", fromVersion: "1.0.0", toVersion: "2.0.0" });

    const back = await cliJson<WithAttempt>(w, "agent-rollback.json", 0, "rollback");
    expect(back.attempt).toMatchObject({ kind: "rollback", fromVersion: "2.0.0", toVersion: "1.0.0", releaseDigest: null });

    const history = await cliJson<(Record<string, unknown> & { phases: unknown[] })[]>(w, "agent-history.json", 0, "history");
    expect(history.map((h) => h.toVersion)).toEqual(["1.0.0", "2.0.0", "1.0.0"]);
    // No daemon runs, so neither does the service: degraded, exit 1, and still the same shape.
    const status = await cliJson<{ lastUpdate: Record<string, unknown> }>(w, "agent-status.json", 1, "status");
    expect(status.lastUpdate).toMatchObject({ kind: "rollback", toVersion: "1.0.0" });

    const { phases: _phases, ...historyAttempt } = history[0] ?? { phases: [] };
    const shape = keysOf(historyAttempt);
    expect(shape).toContain("toVersion");
    for (const other of [first.attempt, installed.attempt, back.attempt, status.lastUpdate]) expect(keysOf(other)).toEqual(shape);
    expect(status.lastUpdate).toEqual(historyAttempt);
  });

  it("the MQTT status and the local /status carry the attempt in that shape too", async () => {
    broker = await startTestBroker();
    device = `dev-json-${randomBytes(4).toString("hex")}`;
    const port = await freePort();
    world = await World.create({
      channel: `c${randomBytes(4).toString("hex")}`,
      extraConfig: {
        deviceId: device,
        localEndpoint: { port },
        mqtt: { url: broker.url, pushJitterSeconds: 0, statusMinIntervalSeconds: 1 },
      },
    });
    const w = world;
    const seen: DeviceStatusMessage[] = [];
    watcher = await mqtt.connectAsync(broker.url, { clientId: `test-json-${randomBytes(4).toString("hex")}` });
    watcher.on("message", (_topic, payload) => {
      if (payload.length > 0) seen.push(JSON.parse(payload.toString("utf8")) as DeviceStatusMessage);
    });
    await watcher.subscribeAsync(deviceStatusTopic(device), { qos: 1 });

    await w.release("1.0.0");
    const agent = w.startAgent();
    const done = await waitFor(
      "a status saying 1.0.0 succeeded",
      () => seen.find((s) => s.lastUpdate?.result === "succeeded" && s.phase === "idle"),
      60_000,
    );
    for (const s of seen) expect(schemas.validate("device-status.json", s), JSON.stringify(s)).toEqual([]);
    expect(done.lastResult).toEqual({ version: "1.0.0", result: "succeeded", errorCode: null, at: done.lastUpdate?.finishedAt });

    const res = await fetch(`http://127.0.0.1:${port}/status`);
    const local = (await res.json()) as { lastUpdate: Record<string, unknown> };
    expect(schemas.validate("agent-status.json", local)).toEqual([]);
    expect(local.lastUpdate).toEqual(done.lastUpdate);

    const history = await cliJson<Record<string, unknown>[]>(w, "agent-history.json", 0, "history");
    const { phases: _phases, ...fromHistory } = history[0] ?? {};
    expect(done.lastUpdate).toEqual(fromHistory);
    const viaDaemon = await cliJson<WithAttempt & { via: string }>(w, "agent-check.json", 0, "check");
    expect(viaDaemon.via).toBe("daemon");
    await agent.stop();
    expect(schemas.validate("device-status.json", seen.at(-1))).toEqual([]);
  });
});
