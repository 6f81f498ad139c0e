import { spawn } from "node:child_process";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writePidFile } from "../../agent/service/orphan.js";
import { readProcStat } from "../../agent/service/process-group.js";
import { CoreWorld, Stopper } from "../helpers/core-world.js";
import { waitFor } from "../helpers/processes.js";

/**
 * The `validating` phase through the update core in-process, with a real
 * validator process: what it is given, what a failure leaves behind, and a
 * restart in the middle of it.
 */

let world: CoreWorld | undefined;
let scratch: string | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/**
 * A validator that appends what it was given to `runs.jsonl`, then does what
 * the file `mode` (beside it) says: pass, fail (stderr and exit 2) or hang.
 */
const VALIDATOR = `
const fs = require("node:fs");
const path = require("node:path");
fs.appendFileSync(path.join(__dirname, "runs.jsonl"), JSON.stringify({
  pid: process.pid,
  modelDir: process.env.EDGEPULL_MODEL_DIR,
  activeDir: process.env.EDGEPULL_ACTIVE_DIR ?? null,
  cwd: process.cwd(),
}) + "\\n");
const mode = fs.readFileSync(path.join(__dirname, "mode"), "utf8").trim();
if (mode === "fail") { console.error("loading weights"); console.error("accuracy 0.31 below threshold 0.9"); process.exit(2); }
if (mode === "hang") setInterval(() => {}, 1000);
`;

interface Run {
  pid: number;
  modelDir: string;
  activeDir: string | null;
  cwd: string;
}

async function validatorWorld(
  mode: "pass" | "fail" | "hang",
  onV1 = true,
  timeoutSeconds = 60,
): Promise<{ w: CoreWorld; dir: string }> {
  scratch = await mkdtemp(join(tmpdir(), "edgepull-validate-"));
  const dir = scratch;
  await writeFile(join(dir, "validator.cjs"), VALIDATOR);
  // 1.0.0 installs with the validator passing; the mode is set for what comes after.
  await setMode(dir, "pass");
  const config = { validate: { command: [process.execPath, join(dir, "validator.cjs")], timeoutSeconds } };
  world = onV1 ? await CoreWorld.onV1({ config }) : await CoreWorld.create({ config });
  await setMode(dir, mode);
  return { w: world, dir };
}

function setMode(dir: string, mode: string): Promise<void> {
  return writeFile(join(dir, "mode"), mode);
}

async function runs(dir: string): Promise<Run[]> {
  const text = await readFile(join(dir, "runs.jsonl"), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Run);
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe("the validating phase", () => {
  it("runs between staging and activation with the staged and the serving folders; a pass goes on to install", async () => {
    const { w, dir } = await validatorWorld("pass");
    const a = await w.install("2.0.0");
    expect(a).toMatchObject({ result: "succeeded", errorCode: null });
    expect(w.phases(a.id)).toEqual(["downloading", "staging", "validating", "activating", "starting", "succeeded"]);
    const staged = join(w.layout.versionsDir, "2.0.0");
    expect((await runs(dir)).at(-1)).toMatchObject({
      modelDir: staged,
      cwd: staged,
      activeDir: join(w.layout.versionsDir, "1.0.0"),
    });
    expect(await w.active()).toBe("2.0.0");
  });

  it("on a first install EDGEPULL_ACTIVE_DIR is absent", async () => {
    const { w, dir } = await validatorWorld("pass", false);
    await w.release("1.0.0");
    const a = await w.install("1.0.0");
    expect(a.result).toBe("succeeded");
    expect(await runs(dir)).toEqual([
      expect.objectContaining({ activeDir: null, modelDir: join(w.layout.versionsDir, "1.0.0") }),
    ]);
  });

  it("a failing validator fails the attempt before anything touches the serving version, and the staged one goes", async () => {
    const { w } = await validatorWorld("fail");
    const restartsBefore = [...w.service.restarts];
    const stopsBefore = w.service.stops;
    const a = await w.install("2.0.0");
    expect(a).toMatchObject({ result: "failed", errorCode: "VALIDATION_FAILED", phase: "failed" });
    expect(a.errorMessage).toContain("failed: exit code 2");
    expect(a.errorMessage).toContain("loading weights | accuracy 0.31 below threshold 0.9");
    expect(w.phases(a.id)).toEqual(["downloading", "staging", "validating", "failed"]);
    // The serving version was never stopped or restarted, and `current` did not move.
    expect(w.service.restarts).toEqual(restartsBefore);
    expect(w.service.stops).toBe(stopsBefore);
    expect(await w.active()).toBe("1.0.0");
    // Nothing of the candidate is left: no version folder, no journal record, no staging.
    expect(await exists(join(w.layout.versionsDir, "2.0.0"))).toBe(false);
    expect(w.store.getVersion("2.0.0")).toBeUndefined();
    expect(await w.staging()).toEqual([]);
    // As with other failures before activation: retried with backoff, not deny-listed.
    expect(w.store.isDenied("2.0.0")).toBeUndefined();
    expect(w.store.recentFailures("2.0.0").count).toBe(1);
  });

  it("a validator past validate.timeoutSeconds is stopped and fails the attempt, saying so", async () => {
    const { w, dir } = await validatorWorld("hang", true, 1);
    const a = await w.install("2.0.0");
    expect(a).toMatchObject({ result: "failed", errorCode: "VALIDATION_FAILED" });
    expect(a.errorMessage).toMatch(/failed: timed out after 1s; it wrote nothing to stderr$/);
    const hung = (await runs(dir))[1] as Run;
    const stat = await readProcStat(hung.pid);
    expect(stat === undefined || stat.state === "Z").toBe(true);
    expect(await w.active()).toBe("1.0.0");
  });

  it("a shutdown mid-validation kills the validator; the next start runs it again from the start", async () => {
    const { w, dir } = await validatorWorld("hang");
    const stop = new Stopper();
    const pending = w.install("2.0.0", stop.signal);
    await waitFor("the validator runs", async () => (await runs(dir)).length === 2);
    const hung = (await runs(dir))[1] as Run;
    stop.shutdown();
    await expect(pending).rejects.toMatchObject({ code: "INTERRUPTED" });
    const stat = await readProcStat(hung.pid);
    expect(stat === undefined || stat.state === "Z").toBe(true);
    expect(await w.active()).toBe("1.0.0");

    await setMode(dir, "pass");
    const resumed = await w.resume();
    expect(resumed).toMatchObject({ result: "succeeded", toVersion: "2.0.0" });
    expect((await runs(dir)).length).toBe(3);
    expect(w.phases(resumed?.id ?? 0)).toEqual([
      "downloading",
      "staging",
      "validating",
      "validating",
      "activating",
      "starting",
      "succeeded",
    ]);
  });

  it("a validator left running by a killed agent is stopped before the resumed validation starts", async () => {
    const { w, dir } = await validatorWorld("hang");
    const stop = new Stopper();
    const pending = w.install("2.0.0", stop.signal);
    await waitFor("the validator runs", async () => (await runs(dir)).length === 2);
    stop.shutdown();
    await expect(pending).rejects.toMatchObject({ code: "INTERRUPTED" });
    // As a kill -9 of the agent would leave it: a validator still running, its pid file in place.
    const orphan = spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], {
      detached: true,
      stdio: "ignore",
    });
    const pid = orphan.pid as number;
    await waitFor("the orphan runs", async () => (await readProcStat(pid)) !== undefined);
    const startTime = (await readProcStat(pid))?.startTime ?? null;
    await writePidFile(join(w.layout.dataDir, "validator.pid"), { pid, startTime, command: ["orphan"] });
    await setMode(dir, "pass");
    const exited = new Promise((resolve) => orphan.once("exit", resolve));
    const resumed = await w.resume();
    expect(resumed?.result).toBe("succeeded");
    await exited;
    expect(await exists(join(w.layout.dataDir, "validator.pid"))).toBe(false);
  });
});
