import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { componentLogger } from "../../agent/logging.js";
import { MAX_LINE_BYTES } from "../../agent/service/service-output.js";
import { Supervisor, type SupervisorOptions } from "../../agent/service/supervisor.js";
import { EdgeError } from "../../shared/errors.js";
import { waitFor } from "../helpers/processes.js";

let dir: string;
const supervisors: Supervisor[] = [];
const strays: number[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgepull-supervisor-"));
});
afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.stop();
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});

/** A small service: records its start (pid, time, model folder, env) in `starts.jsonl`, then behaves as told. */
const SERVICE = `
const fs = require("node:fs");
const path = require("node:path");
const log = path.join(__dirname, "starts.jsonl");
fs.appendFileSync(log, JSON.stringify({ pid: process.pid, at: Date.now(), modelDir: process.env.EDGEPULL_MODEL_DIR, greeting: process.env.GREETING }) + "\\n");
const starts = fs.readFileSync(log, "utf8").trim().split("\\n").length;
const mode = process.argv[2];
if (mode === "crash-first" && starts === 1) process.exit(3);
if (mode === "crash-always") process.exit(7);
if (mode === "stubborn") process.on("SIGTERM", () => {});
if (mode === "chatty") {
  process.stdout.write("loaded weights\\nlistening on 8080\\n");
  process.stderr.write("warning: no GPU, running on CPU\\n");
  process.stdout.write("x".repeat(40000) + "\\n");
}
if (mode === "grandchild") {
  const { spawn } = require("node:child_process");
  const g = spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: "ignore" });
  fs.writeFileSync(path.join(__dirname, "grandchild.pid"), String(g.pid));
}
setInterval(() => {}, 1000);
`;

interface Start {
  pid: number;
  at: number;
  modelDir: string;
  greeting?: string;
}

async function starts(): Promise<Start[]> {
  const text = await readFile(join(dir, "starts.jsonl"), "utf8").catch(() => "");
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Start);
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

function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] as string;
}

function capture(): { lines: Record<string, unknown>[]; raw: string[]; logger: SupervisorOptions["logger"] } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) {
        raw.push(l);
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { lines, raw, logger: pino({ level: "debug" }, stream) };
}

async function supervisor(mode: string, opts: Partial<SupervisorOptions> = {}): Promise<Supervisor> {
  const script = join(dir, "service.cjs");
  await writeFile(script, SERVICE);
  const s = new Supervisor({
    command: [process.execPath, script, mode],
    cwd: dir,
    pidFile: join(dir, "service.pid"),
    logger: capture().logger,
    stopTimeoutMs: 2000,
    backoff: { baseMs: 40, capMs: 400 },
    ...opts,
  });
  supervisors.push(s);
  return s;
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

describe("Supervisor", () => {
  it("runs the service on the model folder, records it in the pid file and stops it", async () => {
    const s = await supervisor("steady", { env: { GREETING: "hello" } });
    await s.restart("/data/versions/1.0.0");
    const [first] = await waitFor("the service to start", async () => ((await starts()).length === 1 ? starts() : undefined));
    expect(first).toMatchObject({ modelDir: "/data/versions/1.0.0", greeting: "hello" });
    const pid = first?.pid as number;
    expect(s.describe()).toMatchObject({ mode: "supervise", running: true, pid, restarts: 0 });
    const record = JSON.parse(await readFile(join(dir, "service.pid"), "utf8"));
    expect(record).toEqual({ pid, startTime: startTime(pid), command: [process.execPath, join(dir, "service.cjs"), "steady"] });

    await s.stop();
    expect(alive(pid)).toBe(false);
    expect(s.describe()).toMatchObject({ running: false });
    expect(s.describe().lastExit?.signal).toBe("SIGTERM");
    expect(s.crashSignal().aborted).toBe(false);
    await expect(readFile(join(dir, "service.pid"))).rejects.toThrow(/ENOENT/);
  });

  it("logs each line the service writes, tagged with its version, pid and stream, under one component key", async () => {
    const { lines, raw, logger } = capture();
    const s = await supervisor("chatty", { logger: componentLogger(logger, "supervisor") });
    const versionDir = join(dir, "versions", "1.4.0");
    await mkdir(versionDir, { recursive: true });
    await s.restart(versionDir);
    const pid = s.describe().pid;
    const service = () => lines.filter((l) => l.source === "service");
    await waitFor("the long line's last piece", () => service().find((l) => typeof l.part === "number" && l.continued === false));
    expect(service().slice(0, 2)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          component: "service",
          version: "1.4.0",
          servicePid: pid,
          stream: "stdout",
          msg: "loaded weights",
        }),
        expect.objectContaining({
          component: "service",
          version: "1.4.0",
          servicePid: pid,
          stream: "stdout",
          msg: "listening on 8080",
        }),
      ]),
    );
    await waitFor("the stderr line", () => service().find((l) => l.stream === "stderr"));
    expect(service().find((l) => l.stream === "stderr")).toMatchObject({
      msg: "warning: no GPU, running on CPU",
      version: "1.4.0",
    });
    // A 40,000-character line arrives whole, in bounded pieces.
    const pieces = service().filter((l) => typeof l.part === "number");
    expect(pieces.map((l) => l.msg).join("")).toBe("x".repeat(40000));
    expect(Math.max(...pieces.map((l) => String(l.msg).length))).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(pieces.at(-1)).toMatchObject({ continued: false });
    for (const line of raw) expect(line.split('"component"').length - 1, line).toBeLessThanOrEqual(1);
  });

  it("restart() replaces the running service and gives a fresh crash signal", async () => {
    const s = await supervisor("steady");
    await s.restart("/v/1");
    const before = s.crashSignal();
    const first = await waitFor("v1", async () => (await starts())[0]);
    await s.restart("/v/2");
    const second = await waitFor("v2", async () => (await starts())[1]);
    expect(second.modelDir).toBe("/v/2");
    expect(alive(first.pid)).toBe(false);
    expect(alive(second.pid)).toBe(true);
    expect(s.crashSignal()).not.toBe(before);
    expect(before.aborted).toBe(false);
    expect(s.describe()).toMatchObject({ running: true, pid: second.pid, restarts: 0 });
  });

  it("a crash aborts the crash signal with SERVICE_CRASHED and the service is respawned on the same folder", async () => {
    const { lines, logger } = capture();
    const s = await supervisor("crash-first", { logger });
    await s.restart("/v/crashy");
    const signal = s.crashSignal();
    await waitFor("the crash", () => signal.aborted, 10_000, 10);
    const reason = signal.reason as EdgeError;
    expect(reason).toBeInstanceOf(EdgeError);
    expect(reason.code).toBe("SERVICE_CRASHED");
    expect(reason.message).toContain("exit code 3");

    const [, second] = await waitFor("the respawn", async () => ((await starts()).length === 2 ? starts() : undefined));
    expect(second?.modelDir).toBe("/v/crashy");
    await waitFor("running again", () => s.describe().running);
    expect(s.describe()).toMatchObject({ restarts: 1, pid: second?.pid, lastExit: { code: 3, signal: null } });
    expect(lines.some((l) => l.level === 40 && l.msg === "service exited unexpectedly; restarting it after backoff")).toBe(true);
    // Still the latest restart()'s signal, so still aborted: the update that saw it must not pass.
    expect(s.crashSignal()).toBe(signal);
    await s.restart("/v/crashy");
    expect(s.crashSignal().aborted).toBe(false);
  });

  it("backs off exponentially in a crash loop and stops respawning after stop()", async () => {
    const s = await supervisor("crash-always", { backoff: { baseMs: 40, capMs: 200 } });
    await s.restart("/v/bad");
    const seen = await waitFor("five starts", async () => ((await starts()).length >= 5 ? starts() : undefined), 20_000, 20);
    // Each respawn waits at least half of min(cap, base * 2^n): 20, 40, 80, 100 ms.
    for (let n = 0; n < 4; n++) {
      const gap = (seen[n + 1]?.at as number) - (seen[n]?.at as number);
      expect(gap).toBeGreaterThanOrEqual(Math.min(200, 40 * 2 ** n) / 2);
    }
    await s.stop();
    const count = (await starts()).length;
    await new Promise((r) => setTimeout(r, 500));
    expect((await starts()).length).toBe(count);
    expect(s.describe().running).toBe(false);
  });

  it("stop() kills the whole process group, a grandchild that ignores SIGTERM too", async () => {
    const s = await supervisor("grandchild");
    await s.restart("/v/1");
    const grandchild = Number(await waitFor("the grandchild", () => readFile(join(dir, "grandchild.pid"), "utf8")));
    strays.push(grandchild);
    const service = (await starts())[0]?.pid as number;
    expect(alive(grandchild)).toBe(true);
    await s.stop();
    await waitFor("the grandchild to die", () => !alive(grandchild), 5000, 20);
    expect(alive(service)).toBe(false);
  });

  it("sends SIGKILL to a service that ignores SIGTERM once stopTimeoutMs passes", async () => {
    const s = await supervisor("stubborn", { stopTimeoutMs: 300 });
    await s.restart("/v/1");
    const pid = (await waitFor("start", async () => (await starts())[0])).pid;
    await new Promise((r) => setTimeout(r, 100)); // let it install its SIGTERM handler
    await s.stop();
    expect(alive(pid)).toBe(false);
    expect(s.describe().lastExit?.signal).toBe("SIGKILL");
  });

  it("fails with RESTART_FAILED when the program does not exist", async () => {
    const s = new Supervisor({
      command: [join(dir, "no-such-binary"), "--serve"],
      cwd: dir,
      pidFile: join(dir, "service.pid"),
      logger: capture().logger,
      stopTimeoutMs: 2000,
    });
    supervisors.push(s);
    const err = await rejection(s.restart("/v/1"));
    expect(err.code).toBe("RESTART_FAILED");
    expect(err.message).toContain("no-such-binary");
    expect(err.message).toMatch(/ENOENT/);
    expect(s.describe().running).toBe(false);
  });

  describe("killOrphan", () => {
    async function orphan(): Promise<number> {
      const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { detached: true, stdio: "ignore" });
      await new Promise((r) => child.once("spawn", r));
      const pid = child.pid as number;
      strays.push(pid);
      return pid;
    }

    it("kills the process a previous agent recorded in the pid file", async () => {
      const pid = await orphan();
      const pidFile = join(dir, "service.pid");
      await writeFile(pidFile, JSON.stringify({ pid, startTime: startTime(pid), command: ["node"] }));
      const s = await supervisor("steady");
      expect(await s.killOrphan()).toBe(true);
      await waitFor("the orphan to die", () => !alive(pid), 5000, 20);
      await expect(readFile(pidFile)).rejects.toThrow(/ENOENT/);
    });

    it("refuses a pid whose start time differs (the pid was reused)", async () => {
      const pid = await orphan();
      const pidFile = join(dir, "service.pid");
      await writeFile(pidFile, JSON.stringify({ pid, startTime: String(Number(startTime(pid)) - 5), command: ["node"] }));
      const s = await supervisor("steady");
      expect(await s.killOrphan()).toBe(false);
      expect(alive(pid)).toBe(true);
      await expect(readFile(pidFile)).rejects.toThrow(/ENOENT/);
    });

    it("does nothing without a pid file, or with an unreadable one", async () => {
      const s = await supervisor("steady");
      expect(await s.killOrphan()).toBe(false);
      await writeFile(join(dir, "service.pid"), "{ not json");
      expect(await s.killOrphan()).toBe(false);
    });
  });
});
