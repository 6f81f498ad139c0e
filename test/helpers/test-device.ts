import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../../agent/config.js";
import { readStatus, type StatusSnapshot } from "../../agent/telemetry/status-snapshot.js";
import type { AttemptJson } from "../../shared/attempt-json.js";
import { AGENT_BIN, LoggedProcess, type RunResult, runNode } from "./processes.js";
import type { TestRepository } from "./test-repository.js";

export interface DeviceConfigOptions {
  deviceId: string;
  /** The agent's `service` section. */
  service: Record<string, unknown>;
  healthUrl: string;
  pollIntervalSeconds?: number;
  healthTimeoutSeconds?: number;
  probationSeconds?: number;
  /** Top-level keys added last (they replace the defaults above). */
  extraConfig?: Record<string, unknown>;
}

/**
 * An agent config following `repo`'s channel, tuned for tests: polls without
 * jitter, short health deadlines, few download retries, debug logs.
 */
export function agentConfig(repo: TestRepository, opts: DeviceConfigOptions): Record<string, unknown> {
  return {
    deviceId: opts.deviceId,
    dataDir: "data",
    name: repo.name,
    channel: repo.channel,
    repository: repo.url,
    trustedKeys: [repo.publicKeyPath],
    pollIntervalSeconds: opts.pollIntervalSeconds ?? 1,
    pollJitterFraction: 0,
    service: opts.service,
    health: {
      url: opts.healthUrl,
      timeoutSeconds: opts.healthTimeoutSeconds ?? 6,
      probationSeconds: opts.probationSeconds ?? 1,
      intervalMs: 100,
      rollbackTimeoutSeconds: 20,
    },
    download: { retries: 3, idleTimeoutSeconds: 5 },
    logLevel: "debug",
    ...opts.extraConfig,
  };
}

/**
 * One device's folder: `agent.json` beside `data/` (the config names it
 * relatively), the agent processes run on it, and the technician's CLI.
 */
export class TestDevice {
  readonly configPath: string;
  readonly dataDir: string;
  private readonly agents: LoggedProcess[] = [];

  constructor(readonly dir: string) {
    this.configPath = join(dir, "agent.json");
    this.dataDir = join(dir, "data");
  }

  async writeConfig(config: Record<string, unknown>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.configPath, JSON.stringify(config, null, 2));
  }

  startAgent(env: Record<string, string> = {}, opts: { listenFd?: number } = {}): LoggedProcess {
    const agent = new LoggedProcess(AGENT_BIN, ["run", "--config", this.configPath], env, opts);
    this.agents.push(agent);
    return agent;
  }

  cli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return runNode(AGENT_BIN, [...args, "--config", this.configPath], env);
  }

  async status(): Promise<StatusSnapshot> {
    const r = await this.cli(["status", "--json"]);
    try {
      return JSON.parse(r.stdout) as StatusSnapshot;
    } catch {
      throw new Error(`status --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
  }

  /**
   * What `status --json` prints, read here by the same function (readStatus,
   * on a read-only journal connection) instead of through a CLI process: for
   * wait loops, where one `edge-agent status` process every 100 ms cost the
   * machine more CPU than the agent under test. Assertions use status().
   */
  async peekStatus(): Promise<StatusSnapshot> {
    const snapshot = await readStatus(await loadConfig(this.configPath));
    return JSON.parse(JSON.stringify(snapshot)) as StatusSnapshot;
  }

  async history(): Promise<HistoryEntryJson[]> {
    const r = await this.cli(["history", "--json"]);
    try {
      return JSON.parse(r.stdout) as HistoryEntryJson[];
    } catch {
      throw new Error(`history --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
  }

  /** SIGTERM to every agent started here (SIGKILL after 15 s), and waits for them. */
  async stopAgents(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }
}

/** One attempt in `edge-agent history --json`, newest first: the shared attempt shape with its phase log. */
export type HistoryEntryJson = AttemptJson & { phases: { phase: string; at: string }[] };
