import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../agent/logging.js";
import { killRecordedProcess } from "../../agent/service/orphan.js";
import type { StatusSnapshot } from "../../agent/telemetry/status-snapshot.js";
import type { ReleaseManifest } from "../../shared/manifest.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";
import { EXAMPLE_SERVICE, freePort, type LoggedProcess, type RunResult, waitFor } from "./processes.js";
import { agentConfig, type HistoryEntryJson, TestDevice } from "./test-device.js";
import { type ReleaseOptions, TestRepository } from "./test-repository.js";

export type { HistoryEntryJson } from "./test-device.js";

export interface WorldOptions {
  name?: string;
  channel?: string;
  pollIntervalSeconds?: number;
  healthTimeoutSeconds?: number;
  probationSeconds?: number;
  serviceMode?: "supervise" | "command";
  /** `service.strategy: "handover"`: the agent's proxy takes servicePort, each version a port of its own. */
  handover?: Record<string, unknown>;
  /** More environment for the example service (EXAMPLE_LOAD_DELAY_MS: a model that takes that long to load). */
  serviceEnv?: Record<string, string>;
  extraConfig?: Record<string, unknown>;
}

/**
 * One device and one publisher in a temp folder: keys, a model per version, a
 * static repository served over loopback HTTP, the example inference service
 * supervised by a real agent process. Everything a test needs, nothing shared.
 */
export class World {
  readonly dataDir: string;
  readonly configPath: string;
  private constructor(
    readonly root: string,
    private readonly repo: TestRepository,
    private readonly device: TestDevice,
    readonly servicePort: number,
  ) {
    this.dataDir = device.dataDir;
    this.configPath = device.configPath;
  }

  static async create(opts: WorldOptions = {}): Promise<World> {
    const root = await mkdtemp(join(tmpdir(), "edgepull-e2e-"));
    const repo = await TestRepository.create(root, opts);
    const world = new World(root, repo, new TestDevice(join(root, "device")), await freePort());
    await world.writeConfig(opts);
    return world;
  }

  get name(): string {
    return this.repo.name;
  }
  get channel(): string {
    return this.repo.channel;
  }
  get repoDir(): string {
    return this.repo.repoDir;
  }
  get repoUrl(): string {
    return this.repo.url;
  }
  get keyPath(): string {
    return this.repo.keyPath;
  }
  get publicKeyPath(): string {
    return this.repo.publicKeyPath;
  }

  async writeConfig(opts: WorldOptions): Promise<void> {
    await this.device.writeConfig(
      agentConfig(this.repo, {
        deviceId: "dev-e2e-1",
        pollIntervalSeconds: opts.pollIntervalSeconds,
        service:
          opts.serviceMode === "command"
            ? { mode: "command", command: ["true"] }
            : {
                mode: "supervise",
                command: [process.execPath, EXAMPLE_SERVICE],
                env: { PORT: String(this.servicePort), ...opts.serviceEnv },
                ...(opts.handover
                  ? { strategy: "handover", handover: { port: this.servicePort, drainTimeoutSeconds: 2, ...opts.handover } }
                  : {}),
              },
        healthUrl: `http://127.0.0.1:${this.servicePort}/ready`,
        healthTimeoutSeconds: opts.healthTimeoutSeconds,
        probationSeconds: opts.probationSeconds,
        extraConfig: opts.extraConfig,
      }),
    );
  }

  /** Builds the example model at `version` and (unless `publish: false`) points the channel at it. */
  release(version: string, opts: ReleaseOptions = {}): Promise<void> {
    return this.repo.release(version, opts);
  }

  publish(version: string): Promise<void> {
    return this.repo.publish(version);
  }

  /** `listenFd`: the service port's socket, held as systemd's socket unit would (test/helpers/held-socket.ts). */
  startAgent(env: Record<string, string> = {}, opts: { listenFd?: number } = {}): LoggedProcess {
    return this.device.startAgent(env, opts);
  }

  cli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return this.device.cli(args, env);
  }

  status(): Promise<StatusSnapshot> {
    return this.device.status();
  }

  /** status() without a CLI process, for wait loops (see TestDevice.peekStatus). */
  peekStatus(): Promise<StatusSnapshot> {
    return this.device.peekStatus();
  }

  history(): Promise<HistoryEntryJson[]> {
    return this.device.history();
  }

  /** Hand-over mode: the version processes the agent has on record as running (one pid file each). */
  async versionProcesses(): Promise<string[]> {
    const names = await readdir(join(this.dataDir, "instances")).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith(".pid")).sort();
  }

  /** The daemon idle again after an attempt at `version`, whatever its result. */
  attemptEnded(version: string, timeoutMs = 60_000): Promise<unknown> {
    const ended = async () => {
      const s = await this.peekStatus();
      return s.phase === "idle" && s.lastUpdate?.toVersion === version;
    };
    return waitFor(`the ${version} attempt to end`, ended, timeoutMs);
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

  readRepoFile(rel: string): Promise<Buffer> {
    return this.repo.readFile(rel);
  }

  /** The signed release manifest `version` was built with (its `signed` part). */
  async releaseManifest(version: string): Promise<ReleaseManifest> {
    const text = await this.repo.readFile(releaseManifestPath(this.name, version));
    return (JSON.parse(text.toString("utf8")) as { signed: ReleaseManifest }).signed;
  }

  /** SIGTERM to every agent started here, and waits for them (close() does this too). */
  stopAgents(): Promise<void> {
    return this.device.stopAgents();
  }

  async close(): Promise<void> {
    await this.device.stopAgents();
    await this.killLeftService();
    await this.repo.close();
    await rm(this.root, { recursive: true, force: true });
  }

  /**
   * A test that ends with its agent killed (kill -9, no restart after) leaves
   * the supervised service running, as on a device until the next agent start
   * kills it: here nobody starts one, so the world does what that start would,
   * through the agent's own orphan check (pid and start time must match).
   */
  private async killLeftService(): Promise<void> {
    await killRecordedProcess(join(this.dataDir, "service.pid"), 2000, silentLogger());
    // Hand-over mode: one pid file per version's process.
    const instances = join(this.dataDir, "instances");
    const names = await readdir(instances).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith(".pid"))) {
      await killRecordedProcess(join(instances, name), 2000, silentLogger());
    }
  }
}
