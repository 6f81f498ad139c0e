import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("the update path, end to end (real agent, repository server and inference service)", () => {
  it("installs v1, updates to v2, rolls back a broken v3 by itself and does not retry it", async () => {
    world = await World.create();
    const w = world;
    await w.release("1.0.0");
    const agent = w.startAgent();

    await waitFor("v1 active and serving", async () => (await w.servedVersion()) === "1.0.0", 30_000);
    // Serving is not yet committed: the probation window runs first.
    await waitFor("v1 committed", async () => (await w.peekStatus()).phase === "idle");
    let s = await w.status();
    expect(s).toMatchObject({ activeVersion: "1.0.0", healthy: true, daemon: { running: true } });
    expect(s.lastUpdate).toMatchObject({ toVersion: "1.0.0", result: "succeeded", errorCode: null });

    await w.release("2.0.0");
    await waitFor("v2 committed", async () => {
      const now = await w.peekStatus();
      return now.lastUpdate?.toVersion === "2.0.0" && now.lastUpdate?.result === "succeeded";
    });
    expect(await w.servedVersion()).toBe("2.0.0");
    s = await w.status();
    expect(s).toMatchObject({ activeVersion: "2.0.0", previousVersion: "1.0.0", phase: "idle" });

    await w.release("3.0.0", { broken: true });
    await waitFor("v3 rolled back", async () => (await w.peekStatus()).lastUpdate?.result === "rolled_back", 40_000);
    s = await w.status();
    expect(s.activeVersion).toBe("2.0.0");
    expect(s.lastUpdate).toMatchObject({ toVersion: "3.0.0", result: "rolled_back", errorCode: "HEALTH_TIMEOUT" });
    expect(s.denied.map((d) => d.version)).toEqual(["3.0.0"]);
    expect(await w.servedVersion()).toBe("2.0.0");

    // Several more polls pass; the denied release is not attempted again.
    const attemptsBefore = JSON.parse((await w.cli(["history", "--json"])).stdout).length;
    // Counted from the agent's own log (each poll that finds 3.0.0 denied says so), not guessed from a sleep.
    const deniedPolls = () => agent.lines.filter((l) => l.version === "3.0.0" && l.reason === "denied").length;
    const pollsBefore = deniedPolls();
    await waitFor("three more polls that find 3.0.0 denied", () => deniedPolls() >= pollsBefore + 3, 30_000);
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as { toVersion: string; result: string }[];
    expect(history.length).toBe(attemptsBefore);
    expect(history.map((h) => `${h.toVersion}:${h.result}`)).toEqual(["3.0.0:rolled_back", "2.0.0:succeeded", "1.0.0:succeeded"]);

    // A newer release clears the way: v4 installs.
    await w.release("4.0.0");
    await waitFor("v4 active", async () => (await w.servedVersion()) === "4.0.0", 30_000);
    await agent.stop();
  });

  it("rolls back by hand through the running daemon, and without it", async () => {
    world = await World.create();
    const w = world;
    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor("v1 serving", async () => (await w.servedVersion()) === "1.0.0", 30_000);
    await w.release("1.1.0");
    await waitFor("v1.1 serving", async () => (await w.servedVersion()) === "1.1.0", 30_000);
    await waitFor("v1.1 committed", async () => {
      const now = await w.peekStatus();
      return now.lastUpdate?.result === "succeeded" && now.phase === "idle";
    });

    const viaDaemon = await w.cli(["rollback", "--json"]);
    expect(viaDaemon.code, viaDaemon.stderr).toBe(0);
    expect(JSON.parse(viaDaemon.stdout)).toMatchObject({ ok: true, via: "daemon" });
    expect(await w.servedVersion()).toBe("1.0.0");
    let s = await w.status();
    expect(s).toMatchObject({ activeVersion: "1.0.0", previousVersion: "1.1.0" });
    expect(s.denied.map((d) => [d.version, d.errorCode])).toEqual([["1.1.0", "OPERATOR_ROLLBACK"]]);

    await agent.stop();
    // The daemon is down: the technician's rollback runs in the CLI process itself.
    const local = await w.cli(["rollback", "--json"]);
    expect(local.code, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout)).toMatchObject({ ok: true, via: "local" });
    s = await w.status();
    expect(s.activeVersion).toBe("1.1.0");
    // 1.1.0 proved healthy again and left the deny-list; 1.0.0, just left by hand, is on it.
    expect(s.denied.map((d) => [d.version, d.errorCode])).toEqual([["1.0.0", "OPERATOR_ROLLBACK"]]);

    // `allow` takes versions off the deny-list.
    expect((await w.cli(["allow", "1.1.0"])).code).toBe(1);
    expect((await w.cli(["allow", "--all"])).code).toBe(0);
    expect((await w.status()).denied).toEqual([]);
  });

  it("check installs from the command line with the daemon stopped, and verify finds a tampered file", async () => {
    world = await World.create();
    const w = world;
    await w.release("1.0.0");
    const check = await w.cli(["check", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, via: "local", version: "1.0.0" });
    const again = await w.cli(["check"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("1.0.0 is active");

    const verify = await w.cli(["verify", "--json"]);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, version: "1.0.0" });

    const { chmod, appendFile } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const weights = join(w.dataDir, "versions", "1.0.0", "model.safetensors");
    await chmod(weights, 0o644);
    await appendFile(weights, "tampered");
    const bad = await w.cli(["verify"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/size\s+model\.safetensors/);

    // With the daemon and so its supervised service down, status reports degraded and says why.
    const status = await w.cli(["status"]);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain("DEGRADED");
    expect(status.stdout).toContain("service not ready");
  });
});
