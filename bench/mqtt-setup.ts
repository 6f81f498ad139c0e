import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { type RepoServer, startRepoServer } from "../publisher/repo-server.js";
import { channelTopic } from "../shared/topics.js";
import { AGENT_BIN, freePort, hasCommand } from "./common.js";

export interface BenchBroker {
  url: string;
  kind: "mosquitto" | "aedes";
  /** Mosquitto's process; aedes runs inside this one. */
  pid?: number;
  close(): Promise<void>;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    sock.once("connect", () => sock.end(() => resolve(true)));
    sock.once("error", () => resolve(false));
  });
}

/** Mosquitto on a private free port when installed (what fleets run), otherwise aedes in this process. */
export async function startBenchBroker(): Promise<BenchBroker> {
  if (await hasCommand("mosquitto")) {
    const port = await freePort();
    const child = spawn("mosquitto", ["-p", String(port)], { stdio: "ignore" });
    for (let i = 0; i < 100 && !(await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
    if (child.exitCode !== null || !(await portOpen(port))) throw new Error(`mosquitto did not listen on port ${port}`);
    return {
      url: `mqtt://127.0.0.1:${port}`,
      kind: "mosquitto",
      pid: child.pid,
      close: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    };
  }
  // A devDependency, loaded only when there is no Mosquitto.
  const { Aedes } = await import("aedes");
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    kind: "aedes",
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => server.close(() => resolve()));
        setTimeout(resolve, 500).unref();
      }),
  };
}

export const BENCH_MODEL = "bench";
export const BENCH_CHANNEL = "stable";

/** A signed repository served over HTTP, one always-healthy health endpoint, and a broker. */
export interface MqttBenchWorld {
  root: string;
  broker: BenchBroker;
  repo: RepoServer;
  healthUrl: string;
  /** Builds the example model at this version, points the channel at it, returns the pointer file's bytes. */
  release(version: string): Promise<Buffer>;
  /** The pointer bytes, retained, QoS 1, on the channel topic: what `edge-publish publish --mqtt` does. */
  push(pointer: Buffer): Promise<void>;
  /** Writes `<root>/devices/<id>/agent.json` (data beside it) and returns its path. */
  writeAgentConfig(deviceId: string, mqttExtra: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export async function createMqttBenchWorld(prefix: string): Promise<MqttBenchWorld> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const keys = await keygen({ outDir: join(root, "keys") });
  const repoDir = join(root, "repo");
  const health = createHttpServer((_q, r) => r.end("ok"));
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  const healthUrl = `http://127.0.0.1:${(health.address() as { port: number }).port}/`;
  const repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  const broker = await startBenchBroker();
  let seed = 1;
  return {
    root,
    broker,
    repo,
    healthUrl,
    async release(version) {
      const modelDir = join(root, "models", version);
      await writeExampleModel(modelDir, { version, seed: seed++ });
      await buildRelease({ modelDir, name: BENCH_MODEL, version, repoDir, keyPath: keys.privateKeyPath });
      const published = await publishChannel({
        repoDir,
        name: BENCH_MODEL,
        version,
        channel: BENCH_CHANNEL,
        keyPath: keys.privateKeyPath,
      });
      return readFile(published.path);
    },
    async push(pointer) {
      const client = await mqtt.connectAsync(broker.url, { clientId: `bench-pub-${process.pid}-${Date.now()}` });
      try {
        await client.publishAsync(channelTopic(BENCH_MODEL, BENCH_CHANNEL), pointer, { qos: 1, retain: true });
      } finally {
        await client.endAsync();
      }
    },
    async writeAgentConfig(deviceId, mqttExtra) {
      const dir = join(root, "devices", deviceId);
      await mkdir(dir, { recursive: true });
      const path = join(dir, "agent.json");
      await writeFile(
        path,
        JSON.stringify({
          deviceId,
          dataDir: "data",
          name: BENCH_MODEL,
          channel: BENCH_CHANNEL,
          repository: repo.url,
          trustedKeys: [keys.publicKeyPath],
          service: { mode: "command", command: ["true"] },
          health: { url: healthUrl, timeoutSeconds: 30, probationSeconds: 1 },
          mqtt: { url: broker.url, ...mqttExtra },
          logLevel: "warn",
        }),
      );
      return path;
    },
    async close() {
      await broker.close();
      await repo.close();
      await new Promise((r) => health.close(r));
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** An agent daemon whose log output is read only to keep its warnings and errors. */
export interface BenchAgent {
  child: ChildProcess;
  pid: number;
  /** The last few warn-or-worse log lines and stderr lines. */
  complaints: string[];
  /** How many warn-or-worse lines it wrote in total. */
  complaintCount: number;
  stop(): Promise<void>;
}

const KEEP_COMPLAINTS = 5;

/** `bin`: another build's agent/main.js, for a before-and-after run side by side. */
export function startBenchAgent(configPath: string, bin: string = AGENT_BIN): BenchAgent {
  const child = spawn(process.execPath, [bin, "run", "--config", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  const agent: BenchAgent = {
    child,
    pid: child.pid as number,
    complaints: [],
    complaintCount: 0,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
  const keep = (line: string): void => {
    if (line.trim() === "") return;
    agent.complaintCount++;
    agent.complaints.push(line.slice(0, 400));
    if (agent.complaints.length > KEEP_COMPLAINTS) agent.complaints.shift();
  };
  // logLevel "warn": every stdout line is already a complaint; stderr is anything Node itself had to say.
  for (const stream of [child.stdout, child.stderr]) {
    let buf = "";
    stream?.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const line of lines) keep(line);
    });
  }
  return agent;
}
