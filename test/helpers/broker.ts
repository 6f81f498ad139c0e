import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { freePort, waitFor } from "./processes.js";

export interface TestBroker {
  url: string;
  kind: "aedes" | "external" | "mosquitto";
  close(): Promise<void>;
}

/**
 * The broker a test talks to: the one `MQTT_URL` names (Mosquitto in CI), or an
 * in-process aedes on a free port. The same tests pass on both.
 */
export async function startTestBroker(): Promise<TestBroker> {
  const external = process.env.MQTT_URL;
  if (external) return { url: external, kind: "external", close: async () => {} };
  return startAedes();
}

export async function startAedes(port = 0): Promise<TestBroker> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    kind: "aedes",
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => server.close(() => resolve()));
        // Connected clients keep the server open until they notice.
        setTimeout(resolve, 500).unref();
      }),
  };
}

export function hasMosquitto(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn("sh", ["-c", "command -v mosquitto"], { stdio: "ignore" });
    p.on("close", (code) => resolve(code === 0));
  });
}

/** A private Mosquitto on a free port, for tests that restart the broker. Persistence off: a restart loses retained state, the hard case. */
export async function startPrivateMosquitto(port?: number): Promise<TestBroker & { port: number }> {
  const p = port ?? (await freePort());
  const child: ChildProcess = spawn("mosquitto", ["-p", String(p)], { stdio: "ignore" });
  await waitFor(
    `mosquitto on port ${p}`,
    () =>
      new Promise<boolean>((resolve) => {
        const sock = createServer();
        sock.once("error", () => resolve(true));
        sock.listen(p, "127.0.0.1", () => sock.close(() => resolve(false)));
      }),
    5000,
    50,
  );
  return {
    url: `mqtt://127.0.0.1:${p}`,
    kind: "mosquitto",
    port: p,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/**
 * The retained message on `topic`, as a late subscriber gets it; then clears
 * it (on a shared broker retained messages outlive the test).
 */
export async function takeRetained(url: string, topic: string): Promise<Buffer> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    const got = new Promise<Buffer>((resolve) => {
      client.on("message", (t, payload, packet) => {
        if (t === topic && packet.retain && payload.length > 0) resolve(payload);
      });
    });
    await client.subscribeAsync(topic, { qos: 1 });
    const payload = await got;
    await client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
    return payload;
  } finally {
    await client.endAsync();
  }
}
