import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { freeLoopbackPort } from "../../agent/service/free-port.js";

export const REPO_ROOT = join(import.meta.dirname, "..", "..");
export const AGENT_BIN = join(REPO_ROOT, "dist", "agent", "main.js");
export const PUBLISH_BIN = join(REPO_ROOT, "dist", "publisher", "main.js");
export const EXAMPLE_SERVICE = join(REPO_ROOT, "dist", "packaging", "example-service", "server.js");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a built CLI to completion. */
export function runNode(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A port nobody listens on right now (the kernel's pick for port 0): the agent's own choice for a version's port. */
export const freePort = freeLoopbackPort;

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

/** A long-running child whose JSON log lines are kept for assertions. */
export class LoggedProcess {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  /**
   * `listenFd`: a listening socket handed over as systemd's socket activation does (fd 3, LISTEN_FDS=1,
   * LISTEN_PID = the process's own pid, which only a shell that execs node can set before node runs).
   */
  constructor(script: string, args: string[], env: Record<string, string> = {}, opts: { listenFd?: number } = {}) {
    const fd = opts.listenFd;
    this.child =
      fd === undefined
        ? spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
        : spawn("/bin/sh", ["-c", 'LISTEN_PID=$$ exec "$0" "$@"', process.execPath, script, ...args], {
            env: { ...process.env, ...env, LISTEN_FDS: "1" },
            stdio: ["ignore", "pipe", "pipe", fd],
          });
    let buffer = "";
    const onData = (d: Buffer): void => {
      buffer += d.toString();
      let nl = buffer.indexOf("\n");
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON (a child's plain output)
        }
        nl = buffer.indexOf("\n");
      }
    };
    this.child.stdout?.on("data", onData);
    this.child.stderr?.on("data", onData);
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Still running: neither exited nor killed. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  hasLog(match: (line: Record<string, unknown>) => boolean): boolean {
    return this.lines.some(match);
  }

  waitForLog(
    what: string,
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    return waitFor(what, () => this.lines.find(match), timeoutMs, 50);
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.alive) this.child.kill(signal);
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  dump(): string {
    return this.raw.slice(-80).join("\n");
  }
}
