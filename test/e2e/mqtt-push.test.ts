import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import { channelPointerPath } from "../../shared/repo-layout.js";
import { generateSigningKeyPair, parsePrivateKey, signEnvelope } from "../../shared/signature.js";
import { channelTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
let broker: TestBroker | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  await broker?.close();
  broker = undefined;
});

function runTool(cmd: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("close", (status) => resolve({ status, stderr }));
  });
}

async function pushRaw(url: string, topic: string, payload: Buffer | string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `test-pub-${randomBytes(4).toString("hex")}` });
  await client.publishAsync(topic, payload, { qos: 1, retain: true });
  await client.endAsync();
}

/** A device that follows a channel of its own, learning of releases by MQTT; HTTP polling only hourly. */
async function pushWorld(): Promise<{ w: World; b: TestBroker; topic: string }> {
  const b = await startTestBroker();
  broker = b;
  const channel = `c${randomBytes(4).toString("hex")}`;
  const w = await World.create({
    channel,
    extraConfig: { mqtt: { url: b.url, pushJitterSeconds: 0, fallbackPollIntervalSeconds: 3600, statusMinIntervalSeconds: 0 } },
  });
  world = w;
  return { w, b, topic: channelTopic(w.name, channel) };
}

async function pushPublished(w: World, url: string, topic: string): Promise<void> {
  await pushRaw(url, topic, await readFile(join(w.repoDir, channelPointerPath(w.name, w.channel))));
}

describe("MQTT push (aedes in-process, or the broker MQTT_URL names)", () => {
  it("installs a pushed release within seconds, with HTTP polling an hour away", async () => {
    const { w, b, topic } = await pushWorld();
    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor("v1 from the first poll", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 30_000);
    await agent.waitForLog("MQTT connected", (l) => l.msg === "MQTT connected");

    await w.release("2.0.0");
    const pushedAt = Date.now();
    await pushPublished(w, b.url, topic);
    await waitFor("v2 installed by push", async () => (await w.servedVersion()) === "2.0.0", 20_000);
    expect(Date.now() - pushedAt).toBeLessThan(20_000);
    expect(agent.hasLog((l) => l.msg === "release pushed; acting after jitter" && l.version === "2.0.0")).toBe(true);
    await pushRaw(b.url, topic, ""); // clear the retained pointer on a shared broker
  });

  it("ignores forged, replayed, foreign, oversized and non-UTF-8 messages, and keeps running", async () => {
    const { w, b, topic } = await pushWorld();
    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor("v1 installed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 30_000);
    await agent.waitForLog("MQTT connected", (l) => l.msg === "MQTT connected");
    const v1Pointer = await readFile(join(w.repoDir, channelPointerPath(w.name, w.channel)), "utf8");

    // v2 exists in the repository, and the channel moves on to it, but devices hear only hostile messages.
    await w.release("2.0.0", { publish: false });
    await w.publish("1.0.0"); // a newer sequence the agent has not seen; the old text becomes a replay
    const newer = await readFile(join(w.repoDir, channelPointerPath(w.name, w.channel)), "utf8");
    await pushRaw(b.url, topic, newer);
    await agent.waitForLog("newer pointer accepted", (l) => l.msg === "accepted channel pointer" && (l.sequence as number) >= 2);

    const forged = JSON.parse(newer);
    forged.signed.version = "2.0.0";
    forged.signed.sequence += 5;
    const stranger = parsePrivateKey(generateSigningKeyPair().privatePem, "stranger");
    const foreign = { ...JSON.parse(newer).signed, channel: "other", sequence: 99 };
    const cases: [string, Buffer | string, string][] = [
      ["forged", canonicalJson(forged), "SIGNATURE_INVALID"],
      ["replayed", v1Pointer, "SEQUENCE_REPLAY"],
      ["another channel", canonicalJson(signEnvelope(foreign, [stranger])), "KEY_UNTRUSTED"],
      ["garbage", randomBytes(10 * 1024 * 1024), ""],
      ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), ""],
    ];
    for (const [name, payload, code] of cases) {
      const before = agent.lines.length;
      await pushRaw(b.url, topic, payload);
      const line = await agent.waitForLog(
        `a log line for the ${name} message`,
        (l) => agent.lines.indexOf(l) >= before && typeof l.msg === "string" && l.msg.startsWith("ignored"),
      );
      if (code) expect(line.code, name).toBe(code);
    }
    // A pointer for another channel signed by the device's own key, too.
    const ownKey = parsePrivateKey(await readFile(w.keyPath), "own");
    const before = agent.lines.length;
    await pushRaw(b.url, topic, canonicalJson(signEnvelope(foreign, [ownKey])));
    const line = await agent.waitForLog(
      "another channel refused",
      (l) => agent.lines.indexOf(l) >= before && l.msg === "ignored a pushed channel pointer",
    );
    expect(line.code).toBe("NAME_MISMATCH");

    const s = await w.status();
    expect(s.activeVersion).toBe("1.0.0");
    expect(s.daemon.running).toBe(true);
    expect(await w.servedVersion()).toBe("1.0.0");
    await pushRaw(b.url, topic, "");
  });

  const hasMosquittoPub = spawnSync("sh", ["-c", "command -v mosquitto_pub"]).status === 0;
  it.skipIf(!hasMosquittoPub)(
    "a pointer published with mosquitto_pub triggers an update: the format needs no edgepull tooling",
    async () => {
      const { w, b, topic } = await pushWorld();
      await w.release("1.0.0");
      const agent = w.startAgent();
      await waitFor("v1 installed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 30_000);
      await agent.waitForLog("MQTT connected", (l) => l.msg === "MQTT connected");
      await w.release("2.0.0");
      const file = join(w.root, "pointer.json");
      await writeFile(file, await readFile(join(w.repoDir, channelPointerPath(w.name, w.channel))));
      // Asynchronously: the in-process broker must keep running while mosquitto_pub talks to it.
      const r = await runTool("mosquitto_pub", ["-L", `${b.url}/${topic}`, "-f", file, "-r", "-q", "1"]);
      expect(r.status, r.stderr).toBe(0);
      await waitFor("v2 installed", async () => (await w.servedVersion()) === "2.0.0", 20_000);
      await pushRaw(b.url, topic, "");
    },
  );
});
