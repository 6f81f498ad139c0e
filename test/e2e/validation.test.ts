import { access, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readProcStat } from "../../agent/service/process-group.js";
import { REPO_ROOT, waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

/** The example validator, as an operator would configure it: the built script on the staged folder. */
const VALIDATOR = join(REPO_ROOT, "dist", "packaging", "example-service", "validate.js");

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Predictions against the serving service until stopped: every answer's version, and every failure. */
function requestLoop(w: World): { stop: () => Promise<{ served: string[]; failures: number }> } {
  const served: string[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const version = await w.servedVersion();
      if (version === undefined) failures++;
      else served.push(version);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { served, failures };
    },
  };
}

function attemptEnded(w: World, version: string, result: string): Promise<true> {
  const ended = async () => {
    const s = await w.peekStatus();
    return s.lastUpdate?.toVersion === version && s.lastUpdate.result === result;
  };
  return waitFor(`${version} ${result}`, ended, 40_000);
}

describe("validation before activation, end to end (real agent, example service and validator)", () => {
  it("a release failing its golden set never stops the serving version; a good one passes validation and installs", async () => {
    world = await World.create({
      extraConfig: { validate: { command: [process.execPath, VALIDATOR], timeoutSeconds: 60, memoryMaxMiB: 256 } },
    });
    const w = world;
    await w.release("1.0.0", { golden: {} });
    const agent = w.startAgent();
    await waitFor("v1 committed", async () => {
      const s = await w.peekStatus();
      return s.lastUpdate?.toVersion === "1.0.0" && s.lastUpdate.result === "succeeded" && s.phase === "idle";
    });
    const servicePid = (await readFile(join(w.dataDir, "service.pid"), "utf8")).trim();
    const serviceStarts = () => agent.lines.filter((l) => l.msg === "service started" || l.msg === "stopping service").length;
    const startsBefore = serviceStarts();

    // 2.0.0 loads and would serve, but its own golden set fails it.
    const loop = requestLoop(w);
    await w.release("2.0.0", { golden: {}, degraded: true });
    await attemptEnded(w, "2.0.0", "failed");
    const { served, failures } = await loop.stop();

    const s = await w.status();
    expect(s.activeVersion).toBe("1.0.0");
    expect(s.lastUpdate).toMatchObject({ toVersion: "2.0.0", result: "failed", phase: "failed", errorCode: "VALIDATION_FAILED" });
    expect(s.lastUpdate?.error).toMatch(
      /failed: exit code 1; last 1 line\(s\) of stderr: accuracy 0\.\d{3} below threshold 0\.9$/,
    );
    const [failed] = await w.history();
    expect(failed).toMatchObject({ toVersion: "2.0.0", errorCode: "VALIDATION_FAILED" });
    expect(failed?.phases.map((p) => p.phase)).toEqual(["downloading", "staging", "validating", "failed"]);

    // The serving version was never stopped: same process, no stop or start logged, every request answered by 1.0.0.
    expect((await readFile(join(w.dataDir, "service.pid"), "utf8")).trim()).toBe(servicePid);
    expect(serviceStarts()).toBe(startsBefore);
    expect(failures).toBe(0);
    expect(served.length).toBeGreaterThan(0);
    expect(new Set(served)).toEqual(new Set(["1.0.0"]));
    expect(await readlink(join(w.dataDir, "current"))).toBe("versions/1.0.0");
    // The candidate is gone; like other failures before activation it is retried later, not deny-listed.
    await expect(access(join(w.dataDir, "versions", "2.0.0"))).rejects.toThrow();
    expect(s.denied).toEqual([]);

    // A good release passes validation and installs.
    await w.release("3.0.0", { golden: {} });
    await attemptEnded(w, "3.0.0", "succeeded");
    expect(await w.servedVersion()).toBe("3.0.0");
    const [installed] = await w.history();
    const validatedPath = ["downloading", "staging", "validating", "activating", "starting", "probation", "succeeded"];
    expect(installed?.phases.map((p) => p.phase)).toEqual(validatedPath);
    expect(agent.hasLog((l) => l.msg === "validation passed" && l.version === "3.0.0")).toBe(true);
    // Where systemd cannot make a scope (as in most test containers) the cap is said to be off, once per agent process.
    const uncapped = agent.lines.filter(
      (l) => typeof l.msg === "string" && l.msg.startsWith("validate.memoryMaxMiB is not enforced"),
    );
    const capped = agent.lines.filter((l) => l.msg === "validating" && l.memoryMaxMiB === 256);
    expect(capped.length).toBe(3);
    expect(uncapped.length).toBeLessThanOrEqual(1);
    await agent.stop();
  });

  it("kill -9 of the agent mid-validation: the restarted agent stops the validator left running and validates again", async () => {
    world = await World.create();
    const w = world;
    // The example validator behind a wrapper that, the first time it sees 2.0.0, hangs (ignoring SIGTERM) instead.
    const runs = join(w.root, "validator-runs.txt");
    const wrapper = join(w.root, "hanging-once.mjs");
    await writeFile(
      wrapper,
      `import { appendFileSync, readFileSync } from "node:fs";
import { basename } from "node:path";
const [runs, validator] = process.argv.splice(2);
const version = basename(process.env.EDGEPULL_MODEL_DIR);
const seen = readFileSync(runs, { encoding: "utf8", flag: "a+" }).split("\\n").some((l) => l.endsWith(" " + version));
appendFileSync(runs, process.pid + " " + version + "\\n");
if (version === "2.0.0" && !seen) { process.on("SIGTERM", () => {}); setInterval(() => {}, 1000); }
else await import(validator);
`,
    );
    await w.writeConfig({ extraConfig: { validate: { command: [process.execPath, wrapper, runs, VALIDATOR] } } });
    await w.release("1.0.0", { golden: {} });
    const first = w.startAgent();
    await attemptEnded(w, "1.0.0", "succeeded");
    await w.release("2.0.0", { golden: {} });
    const hung = await waitFor("the validator hangs on 2.0.0", async () => {
      const line = (await readFile(runs, "utf8")).split("\n").find((l) => l.endsWith(" 2.0.0"));
      return line ? Number(line.split(" ")[0]) : undefined;
    });
    first.kill("SIGKILL");
    await first.exited;
    expect((await w.status()).phase).toBe("validating");
    expect(await readlink(join(w.dataDir, "current"))).toBe("versions/1.0.0");
    expect(await readProcStat(hung)).toBeDefined();

    const restarted = w.startAgent();
    await attemptEnded(w, "2.0.0", "succeeded");
    const stat = await readProcStat(hung);
    expect(stat === undefined || stat.state === "Z").toBe(true);
    expect(restarted.hasLog((l) => l.msg === "stopping a validator left running by a previous agent process")).toBe(true);
    const lines = (await readFile(runs, "utf8")).trim().split("\n");
    expect(lines.filter((l) => l.endsWith(" 2.0.0"))).toHaveLength(2);
    const [resumed] = await w.history();
    expect(resumed?.phases.map((p) => p.phase).slice(0, 4)).toEqual(["downloading", "staging", "validating", "validating"]);
    expect(await w.servedVersion()).toBe("2.0.0");
    await restarted.stop();
  });
});
