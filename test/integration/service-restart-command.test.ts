import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { RestartCommand } from "../../agent/service/restart-command.js";
import { EdgeError } from "../../shared/errors.js";
import { waitFor } from "../helpers/processes.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgepull-restart-command-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function command(script: string, timeoutMs?: number): RestartCommand {
  return new RestartCommand({
    command: ["sh", "-c", script],
    cwd: dir,
    logger: silentLogger(),
    timeoutMs: timeoutMs ?? 60_000,
  });
}

/** Alive and not a zombie (a reparented zombie may linger in a container whose init does not reap). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function rejection(p: Promise<unknown>): Promise<EdgeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    return err as EdgeError;
  }
  throw new Error("expected a rejection");
}

describe("RestartCommand", () => {
  it("runs the command in its folder with EDGEPULL_MODEL_DIR set", async () => {
    const c = command('printf "%s %s" "$EDGEPULL_MODEL_DIR" "$(pwd)" > seen.txt');
    await c.restart("/data/versions/2.0.0");
    expect(await readFile(join(dir, "seen.txt"), "utf8")).toBe(`/data/versions/2.0.0 ${dir}`);
    expect(c.describe()).toEqual({ mode: "command", running: false, restarts: 1 });
    await c.stop();
    expect(c.crashSignal().aborted).toBe(false);
  });

  it("fails with RESTART_FAILED naming the exit code and the end of stderr", async () => {
    const c = command('for i in $(seq 1 30); do echo "noise $i" >&2; done; echo "Unit inference.service not found." >&2; exit 5');
    const err = await rejection(c.restart("/v/1"));
    expect(err.code).toBe("RESTART_FAILED");
    expect(err.message).toContain("exited with code 5");
    expect(err.message).toContain("Unit inference.service not found.");
    expect(err.message).toContain("noise 30");
    expect(err.message).not.toContain("noise 3\n");
    expect(c.describe().restarts).toBe(0);
  });

  it("fails with RESTART_FAILED when the command outlives its timeout, and kills what it started", async () => {
    const c = command('echo "waiting for lock" >&2; sleep 30 & echo $! > sleeper.pid; wait', 300);
    const err = await rejection(c.restart("/v/1"));
    expect(err.code).toBe("RESTART_FAILED");
    expect(err.message).toContain("did not finish within 300 ms");
    expect(err.message).toContain("waiting for lock");
    const sleeper = Number(await readFile(join(dir, "sleeper.pid"), "utf8"));
    await waitFor("the sleeper to die", () => !alive(sleeper), 5000, 20);
  });

  it("does not wait for a daemon the command leaves running with its output open", async () => {
    const c = command("sleep 30 & echo $! > daemon.pid; exit 0", 20_000);
    await c.restart("/v/1");
    const daemon = Number(await readFile(join(dir, "daemon.pid"), "utf8"));
    process.kill(daemon, "SIGKILL");
    expect(c.describe().restarts).toBe(1);
  });

  it("fails with RESTART_FAILED when the program does not exist", async () => {
    const c = new RestartCommand({
      command: [join(dir, "systemctl-missing")],
      cwd: dir,
      timeoutMs: 60_000,
      logger: silentLogger(),
    });
    const err = await rejection(c.restart("/v/1"));
    expect(err.code).toBe("RESTART_FAILED");
    expect(err.message).toMatch(/could not start.*ENOENT/);
  });
});
