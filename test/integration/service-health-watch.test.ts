import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { type HealthReading, HealthWatch } from "../../agent/service/health-watch.js";
import { RestartCommand } from "../../agent/service/restart-command.js";
import { Supervisor } from "../../agent/service/supervisor.js";
import { freePort, waitFor } from "../helpers/processes.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real health endpoint whose answer the test switches. */
async function endpoint(): Promise<{ url: string; ready: { value: boolean }; hits: () => number }> {
  const ready = { value: false };
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits++;
    res.writeHead(ready.value ? 200 : 503).end(ready.value ? "ready" : "loading");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`, ready, hits: () => hits };
}

function commandMode(): RestartCommand {
  return new RestartCommand({ command: ["true"], cwd: tmpdir(), timeoutMs: 5000, logger: silentLogger() });
}

function startWatch(opts: ConstructorParameters<typeof HealthWatch>[0]): { watch: HealthWatch; changes: HealthReading[] } {
  const watch = new HealthWatch(opts);
  const changes: HealthReading[] = [];
  watch.on("change", (r) => changes.push(r));
  cleanups.push(() => watch.stop());
  watch.start();
  return { watch, changes };
}

describe("health watch", () => {
  it("emits the first reading and every change of state, not every probe", async () => {
    const ep = await endpoint();
    const { changes } = startWatch({
      url: ep.url,
      intervalMs: 20,
      timeoutMs: 1000,
      service: commandMode(),
      busy: () => false,
      logger: silentLogger(),
    });
    await waitFor("the first reading", () => changes.length === 1, 5000, 10);
    expect(changes[0]).toMatchObject({ state: "not-ready", health: { ok: false, status: 503 } });
    const probesBefore = ep.hits();
    await waitFor("a few more probes", () => ep.hits() >= probesBefore + 3, 5000, 10);
    expect(changes).toHaveLength(1);

    ep.ready.value = true;
    await waitFor("ready", () => changes.length === 2, 5000, 10);
    expect(changes[1]).toMatchObject({ state: "ready", health: { ok: true, status: 200 } });
    ep.ready.value = false;
    await waitFor("not ready again", () => changes.length === 3, 5000, 10);
    expect(changes.map((c) => c.state)).toEqual(["not-ready", "ready", "not-ready"]);
  });

  it("check() probes at once and shares the state: a change it finds is emitted once", async () => {
    const ep = await endpoint();
    ep.ready.value = true;
    const { watch, changes } = startWatch({
      url: ep.url,
      intervalMs: 60_000,
      timeoutMs: 1000,
      service: commandMode(),
      busy: () => false,
      logger: silentLogger(),
    });
    await waitFor("the first reading", () => changes.length === 1, 5000, 10);
    ep.ready.value = false;
    expect((await watch.check()).state).toBe("not-ready");
    expect((await watch.check()).state).toBe("not-ready");
    expect(changes.map((c) => c.state)).toEqual(["ready", "not-ready"]);
  });

  it("does not probe while an update attempt runs", async () => {
    const ep = await endpoint();
    let asked = 0;
    startWatch({
      url: ep.url,
      intervalMs: 10,
      timeoutMs: 1000,
      service: commandMode(),
      busy: () => ++asked > 0,
      logger: silentLogger(),
    });
    await waitFor("several idle checks", () => asked >= 5, 5000, 5);
    expect(ep.hits()).toBe(0);
  });

  it("reports a supervised service that died as crashed at once, without waiting for the interval", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edgepull-watch-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const supervisor = new Supervisor({
      command: [process.execPath, "-e", `require("node:http").createServer((q, s) => s.end("ok")).listen(${port}, "127.0.0.1")`],
      cwd: dir,
      pidFile: join(dir, "service.pid"),
      logger: silentLogger(),
      stopTimeoutMs: 10_000,
      // No respawn within the test: the crashed state lasts.
      backoff: { baseMs: 60_000, capMs: 60_000 },
    });
    cleanups.push(() => supervisor.stop());
    await supervisor.restart(dir);
    const { changes } = startWatch({
      url: `http://127.0.0.1:${port}/`,
      // Far longer than the test: only the crash can wake the watch.
      intervalMs: 600_000,
      timeoutMs: 1000,
      service: supervisor,
      busy: () => false,
      logger: silentLogger(),
    });
    // The first probe may come before the child listens; the crash wake-up is what this test is about.
    await waitFor("a first reading", () => changes.length >= 1, 5000, 10);
    const pid = supervisor.describe().pid as number;
    process.kill(pid, "SIGKILL");
    await waitFor("crashed", () => changes.some((c) => c.state === "crashed"), 5000, 10);
    const crashed = changes.find((c) => c.state === "crashed");
    expect(crashed?.health).toMatchObject({ ok: false, error: expect.stringMatching(/exited \(signal SIGKILL\)/) });
  });
});
