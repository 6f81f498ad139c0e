import { type ChildProcess, spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { basename } from "node:path";
import { type BackoffPolicy, backoffDelay } from "../../shared/backoff.js";
import { EdgeError } from "../../shared/errors.js";
import { componentLogger, type Logger } from "../logging.js";
import type { ServiceController, ServiceDescription, ServiceExit } from "./controller.js";
import { killRecordedProcess, writePidFile } from "./orphan.js";
import { readProcStat, signalGroup } from "./process-group.js";
import { logServiceOutput } from "./service-output.js";

export interface SupervisorOptions {
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  pidFile: string;
  logger: Logger;
  /** SIGTERM, then SIGKILL after this long (service.stopTimeoutSeconds). */
  stopTimeoutMs: number;
  /** Delay before respawning after a crash. Default 1 s doubling to 30 s. */
  backoff?: BackoffPolicy;
  /** A run this long resets the backoff. Default 60 s. */
  stableAfterMs?: number;
  /**
   * "stdout": the daemon's; each line of the service's stdout and stderr is
   * logged through `logger`, tagged (service-output.ts). "stderr": a
   * technician's one-shot command, whose stdout is its answer; the service
   * writes straight to our stderr.
   */
  output?: "stdout" | "stderr";
}

interface Run {
  child: ChildProcess;
  pid: number;
  startedAt: number;
  /** Set when we asked it to stop, so its exit is not a crash. */
  stopping: boolean;
  exit?: ServiceExit;
  exited: Promise<void>;
}

/**
 * Runs the inference service as the agent's child, in its own process group so
 * stopping it also stops whatever it started. An exit nobody asked for aborts
 * the crash signal of the latest restart() (the updater is watching it during
 * health checks) and the service is respawned on the same version after a
 * capped exponential backoff.
 *
 * restart(), stop() and respawns run one at a time through a queue; a respawn
 * scheduled before a restart() or stop() is dropped (the generation moved on).
 */
export class Supervisor implements ServiceController {
  private readonly stopTimeoutMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly stableAfterMs: number;
  private run: Run | undefined;
  private modelDir: string | undefined;
  private crash = new AbortController();
  private respawnTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private respawns = 0;
  private lastExit: ServiceExit | undefined;
  private generation = 0;
  private queue: Promise<unknown> = Promise.resolve();

  /** The service's own lines: `component: "service"`, not the supervisor's. */
  private readonly serviceLogger: Logger;

  constructor(private readonly opts: SupervisorOptions) {
    this.serviceLogger = componentLogger(opts.logger, "service");
    this.stopTimeoutMs = opts.stopTimeoutMs;
    this.backoff = opts.backoff ?? { baseMs: 1000, capMs: 30_000 };
    this.stableAfterMs = opts.stableAfterMs ?? 60_000;
  }

  restart(modelDir: string): Promise<undefined> {
    return this.serial(async () => {
      this.generation++;
      this.clearRespawn();
      await this.stopRun();
      this.crash = new AbortController();
      this.modelDir = modelDir;
      this.failures = 0;
      await this.spawnRun(modelDir);
      return undefined;
    });
  }

  stop(): Promise<void> {
    return this.serial(async () => {
      this.generation++;
      this.clearRespawn();
      this.modelDir = undefined;
      await this.stopRun();
      await rm(this.opts.pidFile, { force: true });
    });
  }

  crashSignal(): AbortSignal {
    return this.crash.signal;
  }

  describe(): ServiceDescription {
    const run = this.run;
    const running = run !== undefined && run.exit === undefined;
    return {
      mode: "supervise",
      running,
      ...(running && run ? { pid: run.pid } : {}),
      restarts: this.respawns,
      ...(this.lastExit ? { lastExit: { ...this.lastExit } } : {}),
    };
  }

  /**
   * Kills a service left running by a previous agent process (kill -9 of the
   * agent leaves its child orphaned, holding its port). Only the exact process
   * recorded in the pid file: pid and start time must both match.
   */
  killOrphan(): Promise<boolean> {
    return this.serial(() => killRecordedProcess(this.opts.pidFile, this.stopTimeoutMs, this.opts.logger));
  }

  async recoverOrphans(): Promise<void> {
    if (await this.killOrphan()) this.opts.logger.warn("stopped a service left running by a previous agent process");
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => {});
    return next;
  }

  private async spawnRun(modelDir: string): Promise<void> {
    const { command, cwd, env, logger } = this.opts;
    const [program, ...args] = command;
    if (!program) throw new EdgeError("RESTART_FAILED", "service.command is empty: nothing to start");
    let child: ChildProcess;
    try {
      child = spawn(program, args, {
        cwd,
        env: { ...process.env, ...env, EDGEPULL_MODEL_DIR: modelDir },
        detached: true,
        // The daemon's: piped, so each line reaches its log tagged with the service and its version
        // (service-output.ts). A one-shot command's: on its stderr as written, for the technician watching.
        stdio: this.opts.output === "stderr" ? ["ignore", 2, 2] : ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      throw new EdgeError("RESTART_FAILED", `could not start ${program} in ${cwd}: ${(err as Error).message}`, { cause: err });
    }
    const run: Run = { child, pid: 0, startedAt: Date.now(), stopping: false, exited: Promise.resolve() };
    run.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        run.exit = { code, signal, at: new Date().toISOString() };
        resolve();
        this.onExit(run);
      });
    });
    // spawn() reports a missing program or cwd asynchronously, through 'error' instead of 'spawn'.
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    }).catch((err: Error) => {
      throw new EdgeError("RESTART_FAILED", `could not start ${program} in ${cwd}: ${err.message}`, { cause: err });
    });
    child.on("error", (err) => logger.warn({ err, pid: child.pid }, "service process error"));
    run.pid = child.pid as number;
    this.run = run;
    const tags = { version: basename(modelDir), pid: run.pid };
    if (child.stdout) logServiceOutput(child.stdout, this.serviceLogger, { ...tags, stream: "stdout" });
    if (child.stderr) logServiceOutput(child.stderr, this.serviceLogger, { ...tags, stream: "stderr" });
    logger.info({ pid: run.pid, modelDir, command }, "service started");
    const stat = await readProcStat(run.pid);
    await writePidFile(this.opts.pidFile, { pid: run.pid, startTime: stat?.startTime ?? null, command });
  }

  private onExit(run: Run): void {
    this.lastExit = run.exit;
    if (run.stopping || this.run !== run) return;
    this.run = undefined;
    // Helpers the service started would keep its port; the respawn needs it.
    signalGroup(run.pid, "SIGKILL");
    const ranMs = Date.now() - run.startedAt;
    if (ranMs >= this.stableAfterMs) this.failures = 0;
    const delay = this.respawnDelay();
    const how = run.exit?.signal ? `signal ${run.exit.signal}` : `exit code ${run.exit?.code}`;
    this.crash.abort(
      new EdgeError(
        "SERVICE_CRASHED",
        `service (pid ${run.pid}, ${this.opts.command.join(" ")}) exited unexpectedly with ${how} after ${ranMs} ms`,
      ),
    );
    this.opts.logger.warn(
      { pid: run.pid, code: run.exit?.code, signal: run.exit?.signal, ranMs, retryInMs: delay },
      "service exited unexpectedly; restarting it after backoff",
    );
    this.scheduleRespawn(delay);
  }

  /** Half fixed, half random: a crash loop is always slowed down, and still never in lockstep. */
  private respawnDelay(): number {
    const attempt = this.failures++;
    const ceiling = backoffDelay(attempt, this.backoff, () => 1);
    return Math.floor(ceiling / 2 + backoffDelay(attempt, this.backoff) / 2);
  }

  private scheduleRespawn(delay: number): void {
    const generation = this.generation;
    this.respawnTimer = setTimeout(() => {
      this.respawnTimer = undefined;
      void this.serial(async () => {
        const modelDir = this.modelDir;
        if (generation !== this.generation || modelDir === undefined || this.run) return;
        try {
          await this.spawnRun(modelDir);
          this.respawns++;
        } catch (err) {
          const retryInMs = this.respawnDelay();
          this.opts.logger.error({ err, retryInMs }, "could not respawn the service");
          this.scheduleRespawn(retryInMs);
        }
      });
    }, delay);
  }

  private clearRespawn(): void {
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    this.respawnTimer = undefined;
  }

  private async stopRun(): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    run.stopping = true;
    if (!run.exit) {
      this.opts.logger.info({ pid: run.pid }, "stopping service");
      signalGroup(run.pid, "SIGTERM");
      if (!(await exitsWithin(run.exited, this.stopTimeoutMs))) {
        this.opts.logger.warn({ pid: run.pid, stopTimeoutMs: this.stopTimeoutMs }, "service ignored SIGTERM; sending SIGKILL");
        signalGroup(run.pid, "SIGKILL");
        await run.exited;
      }
    }
    // The leader is gone; whatever else is left in its group goes too.
    signalGroup(run.pid, "SIGKILL");
  }
}

async function exitsWithin(exited: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([exited.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
