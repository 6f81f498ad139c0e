import { spawn } from "node:child_process";
import { EdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";
import type { ServiceController, ServiceDescription } from "./controller.js";
import { signalGroup } from "./process-group.js";

export interface RestartCommandOptions {
  command: string[];
  cwd: string;
  /** The command must finish within this (service.restartTimeoutSeconds). */
  timeoutMs: number;
  logger: Logger;
}

/** How much of the command's output we keep for the error message and logs. */
const TAIL_BYTES = 4096;
const TAIL_LINES = 10;
/** After the command exits, how long its pipes may stay open (a daemon it started may inherit them). */
const PIPE_GRACE_MS = 200;

/**
 * Command mode: the service is managed elsewhere (systemd, docker, ...); the
 * agent only runs the operator's restart command, with EDGEPULL_MODEL_DIR set.
 * We cannot see the service die, so the crash signal never aborts and the
 * health probes are what catch a bad version.
 */
export class RestartCommand implements ServiceController {
  private readonly timeoutMs: number;
  private readonly never = new AbortController().signal;
  private succeeded = 0;

  constructor(private readonly opts: RestartCommandOptions) {
    this.timeoutMs = opts.timeoutMs;
  }

  async restart(modelDir: string): Promise<undefined> {
    const { command, cwd, logger } = this.opts;
    const [program, ...args] = command;
    if (!program) throw new EdgeError("RESTART_FAILED", "service.command is empty: nothing to run");
    const shown = command.join(" ");
    const started = Date.now();
    const result = await runCommand(program, args, cwd, { ...process.env, EDGEPULL_MODEL_DIR: modelDir }, this.timeoutMs);
    const tookMs = Date.now() - started;
    if (result.spawnError) {
      throw new EdgeError("RESTART_FAILED", `restart command ${shown} could not start in ${cwd}: ${result.spawnError.message}`, {
        cause: result.spawnError,
      });
    }
    const stderr = lastLines(result.stderr);
    const tail = stderr ? `; stderr ends with:\n${stderr}` : "; no stderr output";
    if (result.timedOut) {
      throw new EdgeError(
        "RESTART_FAILED",
        `restart command ${shown} did not finish within ${this.timeoutMs} ms (killed)${tail}`,
      );
    }
    if (result.code !== 0) {
      const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
      throw new EdgeError("RESTART_FAILED", `restart command ${shown} ${how}${tail}`);
    }
    this.succeeded++;
    logger.info({ command, modelDir, tookMs, stdout: lastLines(result.stdout) || undefined }, "restart command succeeded");
    return undefined;
  }

  async stop(): Promise<void> {}

  crashSignal(): AbortSignal {
    return this.never;
  }

  /** `running` is false: the agent does not run the service in this mode and cannot tell. */
  describe(): ServiceDescription {
    return { mode: "command", running: false, restarts: this.succeeded };
  }
}

interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError?: Error;
}

function runCommand(
  program: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const result: CommandResult = { code: null, signal: null, stdout: "", stderr: "", timedOut: false };
    // Its own process group, so a timeout kills `sh -c` and what it started alike.
    const child = spawn(program, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => (result.stdout = keepTail(result.stdout + d.toString())));
    child.stderr.on("data", (d: Buffer) => (result.stderr = keepTail(result.stderr + d.toString())));
    const timer = setTimeout(() => {
      result.timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
    }, timeoutMs);
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(result);
    };
    child.once("error", (err) => {
      result.spawnError = err;
      finish();
    });
    child.once("exit", (code, signal) => {
      result.code = code;
      result.signal = signal;
      graceTimer = setTimeout(finish, PIPE_GRACE_MS);
    });
    child.once("close", finish);
  });
}

function keepTail(text: string): string {
  return text.length > TAIL_BYTES ? text.slice(-TAIL_BYTES) : text;
}

function lastLines(text: string): string {
  return text.trimEnd().split("\n").slice(-TAIL_LINES).join("\n");
}
