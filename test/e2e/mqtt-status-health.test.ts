import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { type DeviceStatusMessage, deviceStatusTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { EXAMPLE_SERVICE, waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

/** Its own id: other tests' agents on a shared broker publish statuses too. */
const DEVICE = `dev-health-${randomBytes(4).toString("hex")}`;
/** The example service answers /ready with 503 this long after it starts: the first status must go out before. */
const LOAD_DELAY_MS = 4000;

let world: World | undefined;
let broker: TestBroker | undefined;
let watcher: MqttClient | undefined;
let stoppedPid: number | undefined;
afterEach(async () => {
  if (stoppedPid !== undefined) process.kill(stoppedPid, "SIGCONT");
  stoppedPid = undefined;
  await world?.close();
  world = undefined;
  if (watcher) {
    // A shared broker keeps retained statuses: leave none behind for the next test.
    await watcher.publishAsync(deviceStatusTopic(DEVICE), "", { qos: 1, retain: true });
    await watcher.endAsync();
  }
  watcher = undefined;
  await broker?.close();
  broker = undefined;
});

/** Every status the device publishes from now on, in arrival order. */
async function watchStatus(url: string): Promise<DeviceStatusMessage[]> {
  const seen: DeviceStatusMessage[] = [];
  const client = await mqtt.connectAsync(url, { clientId: `test-status-${randomBytes(4).toString("hex")}` });
  watcher = client;
  client.on("message", (_topic, payload) => {
    if (payload.length > 0) seen.push(JSON.parse(payload.toString("utf8")) as DeviceStatusMessage);
  });
  await client.subscribeAsync(deviceStatusTopic(DEVICE), { qos: 1 });
  return seen;
}

function nextStatus(
  seen: DeviceStatusMessage[],
  from: number,
  what: string,
  match: (s: DeviceStatusMessage) => boolean,
  timeoutMs = 20_000,
): Promise<number> {
  return waitFor(
    what,
    () => {
      const i = seen.findIndex((s, index) => index >= from && match(s));
      return i >= 0 ? i + 1 : undefined;
    },
    timeoutMs,
    50,
  ).then((n) => n - 1);
}

describe(`retained status follows the service's health (${process.env.MQTT_URL ? "broker at MQTT_URL" : "aedes in-process"})`, () => {
  it("reaches health ok after a clean restart without waiting for a timer, and flips to failing when the service hangs", async () => {
    broker = await startTestBroker();
    const url = broker.url;
    const w = await World.create({ channel: `c${randomBytes(4).toString("hex")}`, healthTimeoutSeconds: 30 });
    world = w;
    // Heartbeat an hour away and HTTP polling too: only the health watch can refresh the status here.
    await w.writeConfig({
      healthTimeoutSeconds: 30,
      extraConfig: {
        deviceId: DEVICE,
        service: {
          mode: "supervise",
          command: [process.execPath, EXAMPLE_SERVICE],
          env: { PORT: String(w.servicePort), EXAMPLE_LOAD_DELAY_MS: String(LOAD_DELAY_MS) },
        },
        health: {
          url: `http://127.0.0.1:${w.servicePort}/ready`,
          timeoutSeconds: 30,
          probationSeconds: 1,
          intervalMs: 100,
          watchIntervalSeconds: 1,
        },
        mqtt: {
          url,
          pushJitterSeconds: 0,
          fallbackPollIntervalSeconds: 3600,
          statusMinIntervalSeconds: 1,
          statusHeartbeatSeconds: 3600,
        },
      },
    });
    await w.release("1.0.0");
    const first = w.startAgent();
    await waitFor("v1 installed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 60_000);
    await first.stop();

    const seen = await watchStatus(url);
    const before = seen.length; // the retained offline status of the clean stop
    const agent = w.startAgent();
    const failing = await nextStatus(seen, before, "a first status while the model loads", (s) => s.online);
    // Refused (not listening yet) or 503 (loading): either way not ready.
    expect(seen[failing]?.health?.ok).toBe(false);
    const ok = await nextStatus(seen, failing, "a status with health ok", (s) => s.online && s.health?.ok === true);
    // Nothing was journaled in between: the device sat idle on 1.0.0 while its service became ready.
    for (const s of seen.slice(failing, ok + 1)) expect(s).toMatchObject({ phase: "idle", activeVersion: "1.0.0" });
    expect(agent.hasLog((l) => l.msg === "service health changed" && l.to === "ready")).toBe(true);

    // The service stops answering (stopped, its port still open): the status says so.
    const pid = (JSON.parse(await readFile(join(w.dataDir, "service.pid"), "utf8")) as { pid: number }).pid;
    process.kill(pid, "SIGSTOP");
    stoppedPid = pid;
    const hung = await nextStatus(seen, ok + 1, "a status with health failing", (s) => s.online && s.health?.ok === false);
    expect(seen[hung]?.health?.error).toMatch(/no answer within/);

    process.kill(pid, "SIGCONT");
    stoppedPid = undefined;
    await nextStatus(seen, hung + 1, "health ok again", (s) => s.online && s.health?.ok === true);
  });
});
