import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { publishPointerToBroker } from "../../publisher/mqtt-publish.js";
import { channelTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { freePort } from "../helpers/processes.js";

let broker: TestBroker;
let root: string;
let repoDir: string;
let keyPath: string;
let name: string;
const clients: MqttClient[] = [];
const retainedTopics = new Set<string>();

beforeAll(async () => {
  broker = await startTestBroker();
});
afterAll(async () => {
  await broker.close();
});

beforeEach(async () => {
  // Unique per test: on a shared broker (MQTT_URL) retained messages outlive the test.
  name = `mqtt-test-${randomBytes(4).toString("hex")}`;
  root = await mkdtemp(join(tmpdir(), "edgepull-publish-mqtt-"));
  repoDir = join(root, "repo");
  keyPath = (await keygen({ outDir: join(root, "keys") })).privateKeyPath;
  const model = join(root, "model");
  await mkdir(model);
  await writeFile(join(model, "weights.bin"), "w1");
  await buildRelease({ modelDir: model, name, version: "1.0.0", repoDir, keyPath });
  await writeFile(join(model, "weights.bin"), "w2");
  await buildRelease({ modelDir: model, name, version: "1.1.0", repoDir, keyPath });
});

afterEach(async () => {
  if (retainedTopics.size > 0) {
    const cleaner = await connect();
    for (const topic of retainedTopics) await cleaner.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
    retainedTopics.clear();
  }
  await Promise.all(clients.splice(0).map((c) => c.endAsync()));
  await rm(root, { recursive: true, force: true });
});

async function connect(): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 5000 });
  clients.push(client);
  return client;
}

/** The retained message on a topic, as a late subscriber gets it. */
async function retainedOn(topic: string): Promise<Buffer> {
  const client = await connect();
  const got = new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no retained message on ${topic} within 5 s`)), 5000);
    client.on("message", (t, payload, packet) => {
      if (t === topic && packet.retain && payload.length > 0) {
        clearTimeout(timer);
        resolve(payload);
      }
    });
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return got;
}

function publish(version: string, url: string) {
  return publishChannel({ repoDir, name, version, channel: "stable", keyPath, mqtt: { url } });
}

describe("publishChannel with mqtt", () => {
  it("publishes the pointer file's exact bytes, retained, to the channel topic", async () => {
    const topic = channelTopic(name, "stable");
    retainedTopics.add(topic);
    const r = await publish("1.0.0", broker.url);
    expect(r.mqtt).toEqual({ topic: `edgepull/v1/${name}/channels/stable` });
    const onDisk = await readFile(r.path);
    expect((await retainedOn(topic)).equals(onDisk)).toBe(true);

    // A later publish replaces the retained pointer: late subscribers see only the newest.
    const r2 = await publish("1.1.0", broker.url);
    const received = await retainedOn(topic);
    expect(received.equals(await readFile(r2.path))).toBe(true);
    expect(JSON.parse(received.toString()).signed).toMatchObject({ version: "1.1.0", sequence: 2 });
  });

  it("an unreachable broker fails with MQTT_ERROR after the file is written, and says so", async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const err = await publish("1.0.0", url).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "MQTT_ERROR" });
    const message = (err as Error).message;
    expect(message).toContain(`cannot reach the MQTT broker at ${url}`);
    expect(message).toContain(`${join(repoDir, "channels", name, "stable.json")} was written`);
    expect(existsSync(join(repoDir, "channels", name, "stable.json"))).toBe(true);
  });

  it("a malformed broker URL or unreadable CA file fails before the repository changes", async () => {
    await expect(publish("1.0.0", "http://127.0.0.1:1")).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(
      publishChannel({
        repoDir,
        name,
        version: "1.0.0",
        channel: "stable",
        keyPath,
        mqtt: { url: broker.url, caFile: join(root, "missing-ca.pem") },
      }),
    ).rejects.toMatchObject({ code: "CONFIG_INVALID", message: expect.stringContaining("missing-ca.pem") });
    expect(existsSync(join(repoDir, "channels", name))).toBe(false);
  });
});

describe("publishPointerToBroker", () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts TCP and never answers CONNECT: a hung broker, not a refused one.
    silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it("gives up on a broker that never answers, with MQTT_ERROR", async () => {
    const port = (silent.address() as { port: number }).port;
    await expect(
      publishPointerToBroker({
        settings: { url: `mqtt://127.0.0.1:${port}` },
        name,
        channel: "stable",
        pointerBytes: Buffer.from("{}"),
        timeoutMs: 300,
      }),
    ).rejects.toMatchObject({ code: "MQTT_ERROR", message: expect.stringContaining("no answer within 300 ms") });
  });

  it("refuses an empty or oversized pointer and names that cannot be topic levels, without connecting", async () => {
    const settings = { url: "mqtt://127.0.0.1:1" };
    const base = { settings, name, channel: "stable" };
    await expect(publishPointerToBroker({ ...base, pointerBytes: Buffer.alloc(0) })).rejects.toMatchObject({
      code: "METADATA_MALFORMED",
    });
    await expect(publishPointerToBroker({ ...base, pointerBytes: Buffer.alloc(64 * 1024 + 1, 0x20) })).rejects.toMatchObject({
      code: "METADATA_MALFORMED",
    });
    await expect(publishPointerToBroker({ ...base, channel: "stable/#", pointerBytes: Buffer.from("{}") })).rejects.toMatchObject(
      { code: "USAGE" },
    );
  });
});
