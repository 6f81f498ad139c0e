import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { startRepoServer } from "../../publisher/repo-server.js";
import { AGENT_BIN, EXAMPLE_SERVICE, freePort, LoggedProcess, type RunResult, runNode } from "./processes.js";

export interface WorldOptions {
  name?: string;
  channel?: string;
  pollIntervalSeconds?: number;
  healthTimeoutSeconds?: number;
  probationSeconds?: number;
  serviceMode?: "supervise" | "command";
  extraConfig?: Record<string, unknown>;
}

/**
 * One device and one publisher in a temp folder: keys, a model per version, a
 * static repository served over loopback HTTP, the example inference service
 * supervised by a real agent process. Everything a test needs, nothing shared.
 */
export class World {
  readonly name: string;
  readonly channel: string;
  private agents: LoggedProcess[] = [];
  private constructor(
    readonly root: string,
    readonly repoDir: string,
    readonly dataDir: string,
    readonly configPath: string,
    readonly keyPath: string,
    readonly publicKeyPath: string,
    readonly repoUrl: string,
    readonly servicePort: number,
    private readonly closeRepo: () => Promise<void>,
    opts: WorldOptions,
  ) {
    this.name = opts.name ?? "demo-model";
    this.channel = opts.channel ?? "stable";
  }

  static async create(opts: WorldOptions = {}): Promise<World> {
    const root = await mkdtemp(join(tmpdir(), "edgepull-e2e-"));
    const repoDir = join(root, "repo");
    const keys = await keygen({ outDir: join(root, "keys") });
    const server = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
    const servicePort = await freePort();
    const dataDir = join(root, "device", "data");
    const configPath = join(root, "device", "agent.json");
    const world = new World(
      root,
      repoDir,
      dataDir,
      configPath,
      keys.privateKeyPath,
      keys.publicKeyPath,
      server.url,
      servicePort,
      () => server.close(),
      opts,
    );
    await world.writeConfig(opts);
    return world;
  }

  async writeConfig(opts: WorldOptions): Promise<void> {
    const config = {
      deviceId: "dev-e2e-1",
      dataDir: "data",
      name: this.name,
      channel: this.channel,
      repository: this.repoUrl,
      trustedKeys: [this.publicKeyPath],
      pollIntervalSeconds: opts.pollIntervalSeconds ?? 1,
      pollJitterFraction: 0,
      service:
        opts.serviceMode === "command"
          ? { mode: "command", command: ["true"] }
          : { mode: "supervise", command: [process.execPath, EXAMPLE_SERVICE], env: { PORT: String(this.servicePort) } },
      health: {
        url: `http://127.0.0.1:${this.servicePort}/ready`,
        timeoutSeconds: opts.healthTimeoutSeconds ?? 6,
        probationSeconds: opts.probationSeconds ?? 1,
        intervalMs: 100,
        rollbackTimeoutSeconds: 20,
      },
      download: { retries: 3, idleTimeoutSeconds: 5 },
      logLevel: "debug",
      ...opts.extraConfig,
    };
    await rm(join(this.root, "device", "agent.json"), { force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(join(this.root, "device"), { recursive: true }));
    await writeFile(this.configPath, JSON.stringify(config, null, 2));
  }

  /** Builds the example model at `version` and (unless `channel: null`) points the channel at it. */
  async release(
    version: string,
    opts: {
      broken?: boolean;
      extraBytes?: number;
      /** Same value in two versions: the backbone stays, only the head changes (a delta-friendly fine-tune). */
      paddingSeed?: number;
      publish?: boolean;
      compatibility?: { arch?: string[]; labels?: string[] };
    } = {},
  ): Promise<void> {
    const modelDir = join(this.root, "models", version);
    await writeExampleModel(modelDir, {
      version,
      seed: hashSeed(version),
      broken: opts.broken ?? false,
      extraBytes: opts.extraBytes ?? 0,
      paddingSeed: opts.paddingSeed,
    });
    await buildRelease({
      modelDir,
      name: this.name,
      version,
      repoDir: this.repoDir,
      keyPath: this.keyPath,
      compatibility: opts.compatibility,
    });
    if (opts.publish !== false) await this.publish(version);
  }

  async publish(version: string): Promise<void> {
    await publishChannel({ repoDir: this.repoDir, name: this.name, version, channel: this.channel, keyPath: this.keyPath });
  }

  startAgent(env: Record<string, string> = {}): LoggedProcess {
    const agent = new LoggedProcess(AGENT_BIN, ["run", "--config", this.configPath], env);
    this.agents.push(agent);
    return agent;
  }

  cli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return runNode(AGENT_BIN, [...args, "--config", this.configPath], env);
  }

  async status(): Promise<StatusJson> {
    const r = await this.cli(["status", "--json"]);
    try {
      return JSON.parse(r.stdout) as StatusJson;
    } catch {
      throw new Error(`status --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
  }

  /** The version the example service reports right now, or undefined when it does not answer. */
  async servedVersion(): Promise<string | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.servicePort}/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }),
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) return undefined;
      return ((await res.json()) as { version?: string }).version;
    } catch {
      return undefined;
    }
  }

  /** Every path under the world's root outside the agent's data folder and the inputs we made. */
  async filesOutsideData(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        const allowed = ["repo", "keys", "models", "device/data", "device/agent.json"];
        if (allowed.includes(r)) continue;
        // A folder holding allowed paths (device/) is looked into, not reported.
        if (!allowed.some((a) => a.startsWith(`${r}/`))) out.push(r);
        if (e.isDirectory()) await walk(join(dir, e.name), r);
      }
    };
    await walk(this.root, "");
    return out;
  }

  async readRepoFile(rel: string): Promise<Buffer> {
    return readFile(join(this.repoDir, rel));
  }

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
    await this.closeRepo();
    await rm(this.root, { recursive: true, force: true });
  }
}

export interface StatusJson {
  deviceId: string;
  activeVersion: string | null;
  previousVersion: string | null;
  phase: string;
  lastUpdate: { version: string; result: string | null; errorCode: string | null; error: string | null } | null;
  denied: { version: string; errorCode: string }[];
  health: { ok: boolean };
  healthy: boolean;
  daemon: { running: boolean };
}

function hashSeed(version: string): number {
  let h = 2166136261;
  for (const c of version) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}
