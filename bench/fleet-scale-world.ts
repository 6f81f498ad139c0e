import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { makeDeltas } from "../publisher/commands/delta.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { type PublicKeyInfo, parsePublicKey } from "../shared/signature.js";
import { channelTopic } from "../shared/topics.js";
import { freePort, hasCommand, ROOT } from "./common.js";
import { type BenchBroker, portOpen, startBenchBroker } from "./mqtt-setup.js";

export const PUBLISH_BIN = join(ROOT, "dist", "publisher", "main.js");
export const SCALE_MODEL = "fleet";
export const SCALE_CHANNEL = "stable";

export type ServerKind = "edge-publish serve" | "nginx";

/** A repository server in its own process, so its CPU is its own. */
export interface ScaleServer {
  kind: ServerKind;
  url: string;
  pid: number;
  close(): Promise<void>;
}

export interface ScaleWorld {
  root: string;
  repoDir: string;
  keyPath: string;
  trustedKeys: PublicKeyInfo[];
  broker: BenchBroker;
  /** Builds `version` (with a delta from `from` when given), points the channel at it, returns the pointer's bytes. */
  release(version: string, from: string | undefined): Promise<{ pointer: Buffer; bundleBytes: number; deltaBytes: number }>;
  push(pointer: Buffer): Promise<void>;
  startServer(kind: ServerKind): Promise<ScaleServer>;
  close(): Promise<void>;
}

async function waitListening(child: ChildProcess, port: number, what: string): Promise<void> {
  for (let i = 0; i < 200 && child.exitCode === null && !(await portOpen(port)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (child.exitCode !== null || !(await portOpen(port))) throw new Error(`${what} did not listen on port ${port}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** nginx as a CDN edge would run it: static files, sendfile, keep-alive; one worker, like our one Node process. */
function nginxConf(root: string, repoDir: string, port: number): string {
  const asRoot = process.getuid?.() === 0 ? "user root;\n" : "";
  return `${asRoot}daemon off;
worker_processes 1;
pid ${join(root, "nginx.pid")};
error_log ${join(root, "nginx-error.log")} warn;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  types { application/json json; application/gzip gz; }
  default_type application/octet-stream;
  client_body_temp_path ${join(root, "nginx-tmp")};
  server { listen 127.0.0.1:${port}; root ${repoDir}; etag on; }
}
`;
}

export async function hasNginx(): Promise<boolean> {
  return (await hasCommand("nginx")) || (await hasCommand("/usr/sbin/nginx"));
}

export async function createScaleWorld(modelBytes: number): Promise<ScaleWorld> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-scale-"));
  const keys = await keygen({ outDir: join(root, "keys") });
  const trustedKeys = [parsePublicKey(await readFile(keys.publicKeyPath), keys.publicKeyPath)];
  const repoDir = join(root, "repo");
  const broker = await startBenchBroker();
  let seed = 1;
  return {
    root,
    repoDir,
    keyPath: keys.privateKeyPath,
    trustedKeys,
    broker,
    async release(version, from) {
      const modelDir = join(root, "models", version);
      // Same shape every release, new weights: what a retrain ships, and what a delta can shrink only a little.
      await writeExampleModel(modelDir, { version, seed: seed++, extraBytes: modelBytes });
      const built = await buildRelease({ modelDir, name: SCALE_MODEL, version, repoDir, keyPath: keys.privateKeyPath });
      let deltaBytes = 0;
      if (from) {
        const made = await makeDeltas({
          repoDir,
          name: SCALE_MODEL,
          from: [from],
          to: version,
          keyPath: keys.privateKeyPath,
          targetModelDir: modelDir,
          workDir: root,
        });
        deltaBytes = made.deltas.find((d) => d.offered)?.size ?? 0;
      }
      const published = await publishChannel({
        repoDir,
        name: SCALE_MODEL,
        version,
        channel: SCALE_CHANNEL,
        keyPath: keys.privateKeyPath,
      });
      await rm(modelDir, { recursive: true, force: true });
      return { pointer: await readFile(published.path), bundleBytes: built.release.bundle.size, deltaBytes };
    },
    async push(pointer) {
      const client = await mqtt.connectAsync(broker.url, { clientId: `bench-scale-pub-${process.pid}-${Date.now()}` });
      try {
        await client.publishAsync(channelTopic(SCALE_MODEL, SCALE_CHANNEL), pointer, { qos: 1, retain: true });
      } finally {
        await client.endAsync();
      }
    },
    async startServer(kind) {
      const port = await freePort();
      let child: ChildProcess;
      if (kind === "nginx") {
        const dir = join(root, `nginx-${port}`);
        await mkdir(join(dir, "nginx-tmp"), { recursive: true });
        const conf = join(dir, "nginx.conf");
        await writeFile(conf, nginxConf(dir, repoDir, port));
        child = spawn("nginx", ["-c", conf, "-p", dir], { stdio: "ignore" });
      } else {
        child = spawn(process.execPath, [PUBLISH_BIN, "serve", "--repo", repoDir, "--port", String(port)], {
          stdio: "ignore",
        });
      }
      await waitListening(child, port, kind);
      return { kind, url: `http://127.0.0.1:${port}/`, pid: child.pid as number, close: () => stopChild(child) };
    },
    async close() {
      await broker.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
