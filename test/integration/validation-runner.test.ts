import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { probeMemoryScope } from "../../agent/service/memory-scope.js";
import { OutputTail } from "../../agent/service/output-tail.js";
import { readProcStat } from "../../agent/service/process-group.js";
import { runValidator, type ValidatorRun } from "../../agent/service/validation-runner.js";
import { waitFor } from "../helpers/processes.js";

/** The validator runner with real child processes: how each ending is told, and that nothing outlives it. */

let dir: string;
const strays: number[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgepull-validator-"));
});
afterEach(async () => {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});

/** A validator script in the test's folder, run by this Node. */
async function script(body: string): Promise<string[]> {
  const path = join(dir, `validator-${Math.random().toString(36).slice(2)}.cjs`);
  await writeFile(path, body);
  return [process.execPath, path];
}

function run(command: string[], extra: Partial<ValidatorRun> = {}): ReturnType<typeof runValidator> {
  return runValidator({
    command,
    cwd: dir,
    env: { PATH: process.env.PATH },
    timeoutMs: 30_000,
    killGraceMs: 300,
    memoryCapped: false,
    ...extra,
  });
}

/** Gone, or a zombie nobody reaps in this container: either way it runs no more. */
async function running(pid: number): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

describe("runValidator", () => {
  it("exit 0 passes", async () => {
    const outcome = await run(await script("console.log('fine'); process.exit(0);"));
    expect(outcome).toEqual({ passed: true, stderrTail: [], stdoutTail: ["fine"] });
  });

  it("a non-zero exit fails with its code and the last 10 lines of stderr", async () => {
    const command = await script("for (let i = 1; i <= 25; i++) console.error('line ' + i); process.exitCode = 3;");
    const outcome = await run(command);
    expect(outcome).toMatchObject({ passed: false, cause: "exit code 3" });
    expect(outcome.stderrTail).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 16}`));
  });

  it("a signal is named; a SIGKILL under an enforced memory cap says the cap may be why", async () => {
    const suicide = await script("process.kill(process.pid, 'SIGKILL'); setInterval(() => {}, 1000);");
    expect(await run(suicide)).toMatchObject({ passed: false, cause: "killed by SIGKILL" });
    expect(await run(suicide, { memoryCapped: true })).toMatchObject({ passed: false, cause: "killed by SIGKILL (memory cap?)" });
    const term = await script("process.kill(process.pid, 'SIGTERM'); setInterval(() => {}, 1000);");
    expect(await run(term)).toMatchObject({ passed: false, cause: "killed by SIGTERM" });
  });

  it("a timeout stops the whole group: SIGTERM, then SIGKILL for a grandchild that ignores SIGTERM", async () => {
    const command = await script(`
      const { spawn } = require("node:child_process");
      const g = spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: "ignore" });
      require("node:fs").writeFileSync(${JSON.stringify(join(dir, "grandchild.pid"))}, String(g.pid));
      console.error("working on it");
      setInterval(() => {}, 1000);
    `);
    const pending = run(command, { timeoutMs: 1000 });
    await waitFor(
      "the grandchild started",
      async () => (await readFile(join(dir, "grandchild.pid"), "utf8").catch(() => "")) !== "",
    );
    const grandchild = Number(await readFile(join(dir, "grandchild.pid"), "utf8"));
    strays.push(grandchild);
    expect(await running(grandchild)).toBe(true);
    const outcome = await pending;
    expect(outcome).toMatchObject({ passed: false, cause: "timed out after 1s", stderrTail: ["working on it"] });
    await waitFor("the grandchild is gone", async () => !(await running(grandchild)), 5000);
  });

  it("a leader that ignores SIGTERM too is killed after the grace", async () => {
    const command = await script("process.on('SIGTERM', () => console.error('ignoring SIGTERM')); setInterval(() => {}, 1000);");
    const outcome = await run(command, { timeoutMs: 500 });
    expect(outcome).toMatchObject({ passed: false, cause: "timed out after 1s" });
    expect(outcome.stderrTail).toContain("ignoring SIGTERM");
  });

  it("keeps only a bounded tail of a huge stderr", async () => {
    // 64 MiB of long lines, then one line without an end that is longer still.
    const command = await script(`
      const line = "x".repeat(8191) + "\\n";
      let left = 8192;
      const pump = () => {
        while (left > 0) { left--; if (!process.stderr.write(line)) return process.stderr.once("drain", pump); }
        process.stderr.write("last words\\n" + "y".repeat(1 << 20), () => process.exit(1));
      };
      pump();
    `);
    const outcome = await run(command);
    expect(outcome).toMatchObject({ passed: false, cause: "exit code 1" });
    expect(outcome.stderrTail).toHaveLength(10);
    expect(outcome.stderrTail.at(-2)).toBe("last words");
    for (const line of outcome.stderrTail) expect(line.length).toBeLessThanOrEqual(401);
    expect(outcome.stderrTail.at(-1)).toMatch(/^y+…$/);
  });

  it("passes the environment and folder it is given, and reports a missing program", async () => {
    const command = await script("console.log(JSON.stringify({ dir: process.env.EDGEPULL_MODEL_DIR, cwd: process.cwd() }));");
    const outcome = await run(command, { env: { EDGEPULL_MODEL_DIR: "/models/x" } });
    expect(JSON.parse(outcome.stdoutTail[0] ?? "")).toEqual({ dir: "/models/x", cwd: dir });
    const missing = await run([join(dir, "no-such-program")]);
    expect(missing).toMatchObject({
      passed: false,
      cause: expect.stringMatching(/^could not start .*no-such-program: .*ENOENT/),
    });
  });

  it("runs the command behind the wrapper it is given (how systemd-run's scope is put in front)", async () => {
    const command = await script("console.log(process.env.WRAPPED ?? 'bare');");
    expect((await run(command, { wrapper: ["env", "WRAPPED=yes"] })).stdoutTail).toEqual(["yes"]);
    expect((await run(command)).stdoutTail).toEqual(["bare"]);
  });

  it("the memory scope probe either gives a systemd-run prefix with the cap, or says why there is none", async () => {
    const scope = await probeMemoryScope();
    if (scope.enforced) {
      expect(scope.prefix(300)).toEqual(expect.arrayContaining(["systemd-run", "--scope", "MemoryMax=300M", "--quiet"]));
    } else {
      expect(scope.reason).toMatch(/cgroup|systemd-run/);
    }
  });

  it("an abort kills the group at once and rejects with the signal's reason", async () => {
    const command = await script("console.log('started'); setInterval(() => {}, 1000);");
    const controller = new AbortController();
    let pid = 0;
    const pending = run(command, { signal: controller.signal, onSpawn: (p) => (pid = p) });
    await waitFor("spawned", () => pid !== 0);
    controller.abort(new Error("stopping"));
    await expect(pending).rejects.toThrow("stopping");
    expect(await running(pid)).toBe(false);
  });
});

describe("OutputTail", () => {
  it("keeps the last lines across chunk boundaries and multi-byte characters split between chunks", () => {
    const tail = new OutputTail(3, 20);
    const bytes = Buffer.from("a\nbé\nc\nd", "utf8");
    for (const byte of bytes) tail.push(Buffer.from([byte]));
    expect(tail.get()).toEqual(["bé", "c", "d"]);
    tail.push("\r\n");
    expect(tail.get()).toEqual(["bé", "c", "d"]);
    tail.push("z".repeat(50));
    expect(tail.get()).toEqual(["c", "d", `${"z".repeat(20)}…`]);
  });
});
