import { readlink } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "vitest";
import { waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

async function installV1(w: World): Promise<void> {
  await w.release("1.0.0");
  const first = w.startAgent();
  await waitFor("v1 serving", async () => (await w.servedVersion()) === "1.0.0", 30_000);
  await waitFor("v1 committed", async () => (await w.peekStatus()).phase === "idle");
  await first.stop();
}

/**
 * kill -9 of the agent at each point of an update, then a restart without the
 * fault: `current` must point at a complete, verified version right after the
 * kill, and the restarted agent must finish (or roll back) the attempt. Each
 * case has a world of its own, so they run side by side (most of their time is
 * spent waiting on agents and services).
 */
describe("crash injection: kill -9 at each phase, then restart", () => {
  it.concurrent.for([
    ["mid-download", "mid:downloading", "2.0.0"],
    ["mid-extract", "mid:staging", "2.0.0"],
    ["after staging, before the swap", "after:staging", "2.0.0"],
    ["after the swap, before the restart", "after:activating", "2.0.0"],
    ["during probation", "before:probation", "2.0.0"],
  ] as const)("%s (%s)", async ([_name, fault, expected], { expect, onTestFinished }) => {
    const w = await World.create();
    onTestFinished(() => w.close());
    await installV1(w);
    await w.release("2.0.0", { extraBytes: 16 * 1024 * 1024 });

    const doomed = w.startAgent({ EDGEPULL_FAULT: fault });
    const exit = await doomed.exited;
    expect(exit.signal, doomed.dump()).toBe("SIGKILL");
    expect(doomed.hasLog((l) => l.point === fault)).toBe(true);

    // Right after the kill: current is a complete version that verifies.
    const target = await readlink(join(w.dataDir, "current"));
    expect(["versions/1.0.0", "versions/2.0.0"]).toContain(target);
    const verify = await w.cli(["verify", "--json"]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect((await w.status()).phase).not.toBe("idle");

    const restarted = w.startAgent();
    await waitFor("the interrupted attempt to finish", async () => (await w.peekStatus()).phase === "idle", 40_000);
    const s = await w.status();
    expect(s.activeVersion).toBe(expected);
    expect(s.lastUpdate).toMatchObject({ toVersion: "2.0.0", result: "succeeded" });
    expect(await w.servedVersion()).toBe(expected);
    expect(restarted.hasLog((l) => l.msg === "found an interrupted attempt")).toBe(true);
    if (fault === "mid:downloading") {
      // The partial file was kept and resumed with a Range request, not fetched again from zero.
      expect(restarted.hasLog((l) => typeof l.resumeFrom === "number" && (l.resumeFrom as number) > 0)).toBe(true);
    }
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as { toVersion: string; result: string }[];
    expect(history.map((h) => `${h.toVersion}:${h.result}`)).toEqual(["2.0.0:succeeded", "1.0.0:succeeded"]);
    await restarted.stop();
  });

  it.concurrent("during a rollback: the restarted agent finishes the rollback", async ({ expect, onTestFinished }) => {
    const w = await World.create({ healthTimeoutSeconds: 3 });
    onTestFinished(() => w.close());
    await installV1(w);
    await w.release("2.0.0", { broken: true });

    const doomed = w.startAgent({ EDGEPULL_FAULT: "before:rolling_back" });
    expect((await doomed.exited).signal, doomed.dump()).toBe("SIGKILL");
    expect(await readlink(join(w.dataDir, "current"))).toBe("versions/2.0.0");

    const restarted = w.startAgent();
    await waitFor("rollback finished", async () => (await w.peekStatus()).phase === "idle", 40_000);
    const s = await w.status();
    expect(s.activeVersion).toBe("1.0.0");
    expect(s.lastUpdate).toMatchObject({ toVersion: "2.0.0", result: "rolled_back", errorCode: "HEALTH_TIMEOUT" });
    expect(s.denied.map((d) => d.version)).toEqual(["2.0.0"]);
    expect(await w.servedVersion()).toBe("1.0.0");
    await restarted.stop();
  });
});
