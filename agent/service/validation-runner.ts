import { type ChildProcess, spawn } from "node:child_process";
import { OutputTail } from "./output-tail.js";
import { signalGroup } from "./process-group.js";

/**
 * Runs one validator: a program with arguments (no shell) in its own process
 * group, bounded in time, its output kept only as a tail. The caller decides
 * what the outcome means; this only runs it and says how it ended.
 */
export interface ValidatorRun {
  command: readonly string[];
  cwd: string;
  env: Record<string, string | undefined>;
  timeoutMs: number;
  /** SIGTERM to the group at the deadline, SIGKILL this long after. */
  killGraceMs: number;
  /** Put before `command` (systemd-run with MemoryMax), or none. */
  wrapper?: readonly string[];
  /** A cap is enforced: a SIGKILL may be the cap's doing, and the cause says so. */
  memoryCapped: boolean;
  /** Aborting kills the group at once (SIGKILL) and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** The group leader's pid, as soon as it runs (to find it again after a crash of the agent). */
  onSpawn?: (pid: number) => void;
  tailLines?: number;
}

export type ValidatorOutcome =
  | { passed: true; stderrTail: string[]; stdoutTail: string[] }
  | { passed: false; cause: string; stderrTail: string[]; stdoutTail: string[] };

/** After the leader exits, how long its stderr may stay open (a helper escaped the group) before we stop reading. */
const PIPE_DRAIN_MS = 2000;

export function runValidator(run: ValidatorRun): Promise<ValidatorOutcome> {
  run.signal?.throwIfAborted();
  const [program, ...args] = [...(run.wrapper ?? []), ...run.command];
  const stderr = new OutputTail(run.tailLines ?? 10);
  const stdout = new OutputTail(run.tailLines ?? 10);
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(program as string, args, {
        cwd: run.cwd,
        env: run.env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      resolve({ passed: false, cause: `could not start ${program}: ${(err as Error).message}`, stderrTail: [], stdoutTail: [] });
      return;
    }
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const group = (signal: NodeJS.Signals): void => {
      if (child.pid !== undefined) signalGroup(child.pid, signal);
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      group("SIGTERM");
      killTimer = setTimeout(() => group("SIGKILL"), run.killGraceMs);
    }, run.timeoutMs);
    const onAbort = (): void => group("SIGKILL");
    run.signal?.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      run.signal?.removeEventListener("abort", onAbort);
    };
    child.once("spawn", () => {
      if (child.pid !== undefined) run.onSpawn?.(child.pid);
    });
    child.once("error", (err) => {
      done();
      resolve({ passed: false, cause: `could not start ${program}: ${err.message}`, stderrTail: [], stdoutTail: [] });
    });
    child.once("exit", (code, signal) => {
      done();
      // Whatever the leader left behind in its group goes with it: helpers must not outlive the check.
      group("SIGKILL");
      void drained(child).then(() => {
        const tails = { stderrTail: stderr.get(), stdoutTail: stdout.get() };
        if (run.signal?.aborted) reject(run.signal.reason);
        else if (timedOut) resolve({ passed: false, cause: `timed out after ${Math.round(run.timeoutMs / 1000)}s`, ...tails });
        else if (signal) resolve({ passed: false, cause: signalCause(signal, run.memoryCapped), ...tails });
        else if (code === 0) resolve({ passed: true, ...tails });
        else resolve({ passed: false, cause: `exit code ${code}`, ...tails });
      });
    });
  });
}

function signalCause(signal: NodeJS.Signals, memoryCapped: boolean): string {
  return signal === "SIGKILL" && memoryCapped ? "killed by SIGKILL (memory cap?)" : `killed by ${signal}`;
}

/** Resolves once both pipes are closed, or after PIPE_DRAIN_MS, when they are let go. */
function drained(child: ChildProcess): Promise<void> {
  const pipes = [child.stdout, child.stderr].filter((p) => p !== null && !p.closed);
  if (pipes.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let open = pipes.length;
    const timer = setTimeout(() => {
      for (const p of pipes) p?.destroy();
      resolve();
    }, PIPE_DRAIN_MS);
    for (const p of pipes) {
      p?.once("close", () => {
        open -= 1;
        if (open === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
}
