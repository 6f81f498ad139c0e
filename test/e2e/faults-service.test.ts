import { afterEach, describe, expect, it } from "vitest";
import { faultyServiceConfig, type ServiceFault } from "../helpers/fault-service.js";
import { type LoggedProcess, waitFor } from "../helpers/processes.js";
import { expectSettled } from "../helpers/settled.js";
import { World, type WorldOptions } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** v1 installed and committed under a service that misbehaves on 2.0.0 as `fault` says. */
async function worldWithFaultyV2(fault: ServiceFault, opts: WorldOptions): Promise<{ w: World; agent: LoggedProcess }> {
  const w = await World.create(opts);
  world = w;
  await w.writeConfig({
    ...opts,
    extraConfig: { service: await faultyServiceConfig(w.root, w.servicePort, { "2.0.0": fault }) },
  });
  await w.release("1.0.0");
  const agent = w.startAgent();
  await waitFor("v1 committed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 30_000);
  return { w, agent };
}

/** Log lines' positions: the service started on `version`'s folder, and the end of the rollback. */
function servicePlacesIn(agent: LoggedProcess, version: string): number[] {
  return agent.lines.flatMap((l, i) =>
    l.msg === "service started" && String(l.modelDir).endsWith(`/versions/${version}`) ? [i] : [],
  );
}

describe("faults in the new version's service", () => {
  it("a health endpoint that accepts connections and never answers: HEALTH_TIMEOUT after the whole window, then rollback", async () => {
    const timeoutSeconds = 3;
    const { w, agent } = await worldWithFaultyV2("hang", { healthTimeoutSeconds: timeoutSeconds });
    await w.release("2.0.0");
    await waitFor("v2 rolled back", async () => (await w.peekStatus()).lastUpdate?.result === "rolled_back", 40_000);

    await expectSettled(w, agent, { active: "1.0.0", last: { to: "2.0.0", result: "rolled_back", errorCode: "HEALTH_TIMEOUT" } });
    const s = await w.status();
    // The last probe's own reason: it hung, it was not refused.
    expect(s.lastUpdate?.error).toMatch(/no answer within \d+ ms/);
    expect(s.denied.map((d) => [d.version, d.errorCode])).toEqual([["2.0.0", "HEALTH_TIMEOUT"]]);
    // The hung process let go of the port: v1's service listens on it again and answers.
    expect(await w.servedVersion()).toBe("1.0.0");

    // It waited out the configured window (no early give-up on a slow answer), and the journal shows the rollback.
    const [attempt] = await w.history();
    const at = (phase: string): number => Date.parse(String(attempt?.phases.find((p) => p.phase === phase)?.at));
    expect(at("rolling_back") - at("starting")).toBeGreaterThanOrEqual(timeoutSeconds * 1000);
    expect(attempt?.phases.map((p) => p.phase)).toEqual([
      "downloading",
      "staging",
      "activating",
      "starting",
      "rolling_back",
      "rolled_back",
    ]);
  });

  it.each([
    ["exits at every start", "crash" as const],
    ["gets ready, then exits, at every start", "crash-after-ready" as const],
  ])("a service that crash-loops (%s): SERVICE_CRASHED, rollback, and the loop stops with it", async (_name, fault) => {
    const { w, agent } = await worldWithFaultyV2(fault, { probationSeconds: 3, healthTimeoutSeconds: 10 });
    await w.release("2.0.0");
    await waitFor("v2 rolled back", async () => (await w.peekStatus()).lastUpdate?.result === "rolled_back", 40_000);

    await expectSettled(w, agent, {
      active: "1.0.0",
      last: { to: "2.0.0", result: "rolled_back", errorCode: "SERVICE_CRASHED" },
    });
    const s = await w.status();
    expect(s.lastUpdate?.error).toMatch(/exited unexpectedly with exit code 3/);
    expect(s.denied.map((d) => [d.version, d.errorCode])).toEqual([["2.0.0", "SERVICE_CRASHED"]]);
    expect(await w.servedVersion()).toBe("1.0.0");
    expect(s.healthy).toBe(true);

    // Nothing respawns 2.0.0 after the rollback, and v1 was started once for it, not looped.
    const ended = agent.lines.findIndex((l) => l.msg === "attempt ended" && l.version === "2.0.0");
    expect(ended).toBeGreaterThan(0);
    const v2Starts = servicePlacesIn(agent, "2.0.0");
    expect(v2Starts.length).toBeGreaterThan(0);
    expect(Math.max(...v2Starts)).toBeLessThan(ended);
    const v1Starts = servicePlacesIn(agent, "1.0.0").filter((i) => i > (v2Starts[0] ?? 0));
    expect(v1Starts).toHaveLength(1);
    if (fault === "crash-after-ready") {
      // It was ready, so the crash came in probation: readiness alone did not commit it.
      const [attempt] = await w.history();
      expect(attempt?.phases.map((p) => p.phase)).toContain("probation");
    }
  });
});
