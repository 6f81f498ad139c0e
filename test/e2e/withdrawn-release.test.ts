import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { withdraw } from "../../publisher/commands/withdraw.js";
import { bundlePath } from "../../shared/repo-layout.js";
import { type HoldingProxy, startHoldingProxy } from "../helpers/holding-proxy.js";
import { waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
let gate: Server | undefined;
let held: HoldingProxy | undefined;
afterEach(async () => {
  held?.releaseHeld();
  await held?.close();
  held = undefined;
  gate?.closeAllConnections();
  await new Promise((r) => (gate ? gate.close(r) : r(undefined)));
  gate = undefined;
  await world?.close();
  world = undefined;
});

/**
 * A proxy in front of the repository that holds back every request whose path
 * contains `held` until `release()`: a download that stays in progress for as
 * long as the test needs, without timing.
 */
async function holdingProxy(upstream: string, held: string) {
  const waiting: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const server = createServer(async (req, res) => {
    const path = req.url ?? "/";
    if (path.includes(held)) {
      waiting.push(path);
      await released;
    }
    try {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === "string"),
      );
      const up = await fetch(upstream + path, { headers });
      res.writeHead(up.status, Object.fromEntries(up.headers));
      res.end(Buffer.from(await up.arrayBuffer()));
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, waiting, release };
}

describe("a rollout withdrawn while devices download it", () => {
  it("stops the download before activation when the channel goes back to the active version", async () => {
    const w = await World.create();
    world = w;
    const proxy = await holdingProxy(w.repoUrl, "/1.1.0/demo-model-1.1.0.tar.gz");
    gate = proxy.server;
    await w.writeConfig({ extraConfig: { repository: proxy.url } });
    await w.release("1.0.0");
    await w.release("1.1.0", { publish: false });
    const agent = w.startAgent();
    await waitFor("1.0.0 installed", async () => {
      const s = await w.peekStatus();
      return s.activeVersion === "1.0.0" && s.phase === "idle";
    });

    const rollout = { repoDir: w.repoDir, name: w.name, channel: w.channel, keyPath: w.keyPath };
    await changeRollout({ ...rollout, action: { kind: "percent", percent: 100, version: "1.1.0" } });
    await waitFor("the 1.1.0 bundle requested", () => proxy.waiting.length > 0);
    const aborted = await changeRollout({ ...rollout, action: { kind: "abort" } });
    expect(aborted.pointer.version).toBe("1.0.0");

    await agent.waitForLog(
      "the abort's pointer accepted",
      (l) => l.msg === "accepted channel pointer" && l.sequence === aborted.pointer.sequence,
    );
    await waitFor("the 1.1.0 attempt ended", async () => (await w.peekStatus()).lastUpdate?.result ?? undefined);
    proxy.release();

    const s = await w.status();
    expect(s.lastUpdate).toMatchObject({ toVersion: "1.1.0", result: "superseded" });
    expect(s.activeVersion).toBe("1.0.0");
    expect(s.denied).toEqual([]);
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as {
      toVersion: string;
      phases: { phase: string }[];
    }[];
    expect(history[0]?.toVersion).toBe("1.1.0");
    expect(history[0]?.phases.map((p) => p.phase)).not.toContain("activating");
    expect(await w.servedVersion()).toBe("1.0.0");
    // The next check finds nothing to do: 1.0.0 is what the channel names.
    const check = await w.cli(["check", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    expect((await w.status()).activeVersion).toBe("1.0.0");
  });
});

describe("a rollout taken back while the device was down, mid-download", () => {
  it.each([
    ["aborted back to the active version", "abort"],
    ["withdrawn", "withdraw"],
  ] as const)("%s: the resumed attempt is dropped before activation", async (_title, takeBack) => {
    const w = await World.create();
    world = w;
    const proxy = await startHoldingProxy(w.repoUrl);
    held = proxy;
    await w.writeConfig({ extraConfig: { repository: proxy.url } });
    await w.release("1.0.0");
    const first = w.startAgent();
    await waitFor("1.0.0 installed", async () => {
      const s = await w.peekStatus();
      return s.activeVersion === "1.0.0" && s.phase === "idle";
    });
    await first.stop();

    await w.release("1.1.0", { extraBytes: 16 * 1024 * 1024 });
    const doomed = w.startAgent({ EDGEPULL_FAULT: "mid:downloading" });
    expect((await doomed.exited).signal, doomed.dump()).toBe("SIGKILL");
    expect(await w.status()).toMatchObject({ phase: "downloading", lastUpdate: { toVersion: "1.1.0", result: null } });

    const repo = { repoDir: w.repoDir, name: w.name, keyPath: w.keyPath };
    if (takeBack === "abort") {
      const aborted = await changeRollout({ ...repo, channel: w.channel, action: { kind: "abort" } });
      expect(aborted.pointer.version).toBe("1.0.0");
    } else {
      await withdraw({ ...repo, version: "1.1.0", reason: "bad head" });
    }
    // The resumed download cannot finish before the test lets it go: no race with the channel check.
    proxy.hold(bundlePath(w.name, "1.1.0"));
    const restartedAt = new Date().toISOString();
    const restarted = w.startAgent();
    await waitFor(
      "a channel check while the resumed attempt is open",
      async () => {
        const at = (await w.peekStatus()).lastCheck?.at;
        return at !== undefined && at > restartedAt;
      },
      15_000,
    );
    proxy.releaseHeld();
    const s = await waitFor("the 1.1.0 attempt ended", async () => {
      const st = await w.peekStatus();
      return st.phase === "idle" && st.lastUpdate?.result ? st : undefined;
    });
    expect(s.lastUpdate, restarted.dump()).toMatchObject({ toVersion: "1.1.0", result: "superseded" });
    expect(s.activeVersion).toBe("1.0.0");
    expect(restarted.hasLog((l) => l.msg === "found an interrupted attempt")).toBe(true);
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as {
      toVersion: string;
      phases: { phase: string }[];
    }[];
    expect(history.map((h) => h.toVersion)).toEqual(["1.1.0", "1.0.0"]);
    expect(history[0]?.phases.map((p) => p.phase)).not.toContain("activating");
    expect(await w.servedVersion()).toBe("1.0.0");
  });
});
