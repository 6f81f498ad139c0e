import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../agent/config.js";
import { readStatus } from "../agent/telemetry/status-snapshot.js";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { startRepoServer } from "../publisher/repo-server.js";
import { AGENT_BIN, freePort, ROOT, SERVICE_BIN } from "./common.js";

export const VALIDATE_BIN = join(ROOT, "dist", "packaging", "example-service", "validate.js");
const NAME = "bench";

/** What a release of the run is: a good one, one whose gate fails after the switch, one its validator rejects. */
export type ReleaseKind = "good" | "gate-fails" | "validation-fails";

export interface Repository {
  url: string;
  publicKeyPath: string;
  /** Builds `version` (every release carries a golden set, so the validator has something to judge). */
  build: (version: string, kind: ReleaseKind) => Promise<void>;
  publish: (version: string, channel: string) => Promise<void>;
  close: () => Promise<void>;
}

export async function createRepository(root: string): Promise<Repository> {
  const keys = await keygen({ outDir: join(root, "keys") });
  const repoDir = join(root, "repo");
  const server = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  return {
    url: server.url,
    publicKeyPath: keys.publicKeyPath,
    build: async (version, kind) => {
      const modelDir = join(root, "models", version);
      await writeExampleModel(modelDir, {
        version,
        seed: 7 + Number(version.split(".").at(-1)),
        golden: { cases: 32, minAccuracy: 0.9 },
        degraded: kind === "validation-fails",
        // One prediction in ten fails: far above the gate's 5 %, while nine in ten still answer.
        ...(kind === "gate-fails" ? { failEvery: 10 } : {}),
      });
      await buildRelease({ modelDir, name: NAME, version, repoDir, keyPath: keys.privateKeyPath });
    },
    publish: async (version, channel) => {
      await publishChannel({ repoDir, name: NAME, version, channel, keyPath: keys.privateKeyPath });
    },
    close: () => server.close(),
  };
}

export type Strategy = "restart" | "handover";

const PREDICTS = 'example_http_requests_total{route="/predict"';
/** More than 5 % of /predict answered 5xx during probation rolls the version back: the gate-fails release's 10 %. */
const PREDICT_ERROR_GATE = {
  type: "ratio",
  name: "predict-errors",
  ...{ numerator: `${PREDICTS},code=~"5.."}`, denominator: `${PREDICTS}}`, max: 0.05, minSamples: 10 },
  // The first install has no traffic to judge before the load starts: keep it rather than roll it back.
  ...{ onNoData: "inconclusive", maxExtensionSeconds: 5, onNoDataAtLimit: "hold" },
};

export interface DeviceOptions {
  strategy: Strategy;
  loadDelayMs: number;
  probationSeconds: number;
}

/** An agent's log line (the example service's own lines come through its stdout too, and are kept). */
export type LogLine = Record<string, unknown> & { msg?: string; time?: string };

/** The agent of one strategy: its config, process, log lines, and the public port its clients use. */
export class BenchDevice {
  readonly lines: LogLine[] = [];
  child: ChildProcess | undefined;

  private constructor(
    readonly strategy: Strategy,
    readonly configPath: string,
    readonly publicPort: number,
  ) {}

  static async create(root: string, repo: Repository, opts: DeviceOptions): Promise<BenchDevice> {
    const port = await freePort();
    const configPath = join(root, `agent-${opts.strategy}.json`);
    const handover = opts.strategy === "handover" ? { strategy: "handover", handover: { port, drainTimeoutSeconds: 2 } } : {};
    await writeFile(
      configPath,
      JSON.stringify({
        deviceId: `bench-${opts.strategy}`,
        dataDir: join(root, `device-${opts.strategy}`),
        name: NAME,
        channel: opts.strategy,
        repository: repo.url,
        trustedKeys: [repo.publicKeyPath],
        pollIntervalSeconds: 1,
        pollJitterFraction: 0,
        logLevel: "info",
        service: {
          mode: "supervise",
          command: [process.execPath, SERVICE_BIN],
          env: { PORT: String(port), EXAMPLE_LOAD_DELAY_MS: String(opts.loadDelayMs) },
          ...handover,
        },
        health: {
          url: `http://127.0.0.1:${port}/ready`,
          timeoutSeconds: 10,
          probationSeconds: opts.probationSeconds,
          intervalMs: 50,
          rollbackTimeoutSeconds: 20,
          gateIntervalSeconds: 1,
          gates: [PREDICT_ERROR_GATE],
        },
        validate: { command: [process.execPath, VALIDATE_BIN], timeoutSeconds: 30 },
      }),
    );
    return new BenchDevice(opts.strategy, configPath, port);
  }

  start(): void {
    const child = spawn(process.execPath, [AGENT_BIN, "run", "--config", this.configPath], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let buf = "";
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        try {
          this.lines.push(JSON.parse(buf.slice(0, nl)) as LogLine);
        } catch {
          // not JSON
        }
        buf = buf.slice(nl + 1);
      }
    });
    this.child = child;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`the ${this.strategy} agent is not running`);
    return pid;
  }

  /** The daemon idle again after an attempt at `version`; its result ("succeeded", "rolled_back", "failed", ...). */
  async attemptEnded(version: string, timeoutMs = 60_000): Promise<string> {
    const config = await loadConfig(this.configPath);
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.child?.exitCode !== null) throw new Error(`the ${this.strategy} agent exited (${this.child?.exitCode})`);
      const s = await readStatus(config).catch(() => undefined);
      if (s?.phase === "idle" && s.lastUpdate?.toVersion === version) return String(s.lastUpdate.result);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the ${this.strategy} agent's attempt at ${version} did not end within ${timeoutMs / 1000} s`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}
