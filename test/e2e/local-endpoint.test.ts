import { afterEach, describe, expect, it } from "vitest";
import { freePort, waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("the daemon's local endpoint", () => {
  it("serves the status JSON and Prometheus metrics of the running agent", async () => {
    const port = await freePort();
    world = await World.create({ extraConfig: { localEndpoint: { port } } });
    const w = world;
    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor(
      "v1 committed",
      async () => {
        const s = await w.peekStatus();
        return s.phase === "idle" && s.activeVersion === "1.0.0";
      },
      30_000,
    );

    const status = await fetch(`http://127.0.0.1:${port}/status`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ deviceId: "dev-e2e-1", activeVersion: "1.0.0", phase: "idle" });

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('edgepull_updates_total{result="succeeded"} 1');
    expect(metrics).toMatch(/edgepull_active_version_info\{[^}]*version="1\.0\.0"[^}]*\} 1/);
    expect(metrics).toContain('edgepull_phase{phase="idle"} 1');
    expect(metrics).toContain("edgepull_service_ready 1");
    await agent.stop();
  });
});
