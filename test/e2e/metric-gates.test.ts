import { afterEach, describe, expect, it } from "vitest";
import { gatedHealth } from "../helpers/gated-health.js";
import { waitFor } from "../helpers/processes.js";
import { requestLoop } from "../helpers/request-loop.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
let traffic: ReturnType<typeof requestLoop> | undefined;
afterEach(async () => {
  await traffic?.stop();
  traffic = undefined;
  await world?.close();
  world = undefined;
});

/**
 * Probation judged by the model's own metrics (restart mode): the example
 * service's `/metrics` counts /predict answers by code; a release that loads,
 * answers ready and then fails one prediction in three is rolled back by the
 * ratio gate with GATE_FAILED, which `/ready` alone would have kept.
 */
describe("metric gates during probation, on the service's own /metrics", () => {
  it("rolls back a release whose error ratio is over the gate, keeps one under it", async () => {
    world = await World.create({ probationSeconds: 4 });
    const w = world;
    const health = gatedHealth(w, 4);
    await w.writeConfig({ probationSeconds: 4, extraConfig: { health } });
    // Traffic from the start: the first install's probation is judged by the same gate, and no data is never a pass.
    traffic = requestLoop(w, 15);
    await w.release("1.0.0");
    const agent = w.startAgent();
    await w.attemptEnded("1.0.0");
    expect((await w.status()).lastUpdate).toMatchObject({ toVersion: "1.0.0", result: "succeeded" });

    await w.release("1.1.0", { failEvery: 3 });
    await w.attemptEnded("1.1.0");
    const s = await w.status();
    expect(s.activeVersion).toBe("1.0.0");
    expect(s.lastUpdate).toMatchObject({ toVersion: "1.1.0", result: "rolled_back", errorCode: "GATE_FAILED" });
    // The message names the gate, what was seen and the bound.
    expect(s.lastUpdate?.error).toMatch(/gate "predict-errors" failed: observed 0\.3\d*, threshold .*0\.05/);
    expect(s.denied).toContainEqual(expect.objectContaining({ version: "1.1.0", errorCode: "GATE_FAILED" }));
    await waitFor("1.0.0 serving again", async () => (await w.servedVersion()) === "1.0.0", 30_000);
    const metrics = await (await fetch(`http://127.0.0.1:${w.servicePort}/metrics`)).text();
    expect(metrics).toMatch(/example_model_info\{version="1\.0\.0"\} 1/);

    // A release within the bound passes the same gate and is kept.
    await w.release("1.2.0");
    await w.attemptEnded("1.2.0");
    const kept = await w.status();
    expect(kept.activeVersion).toBe("1.2.0");
    expect(kept.lastUpdate).toMatchObject({ toVersion: "1.2.0", result: "succeeded", errorCode: null });
    const history = await w.history();
    expect(history.map((h) => `${h.toVersion}:${h.result}:${h.errorCode ?? "-"}`).slice(0, 3)).toEqual([
      "1.2.0:succeeded:-",
      "1.1.0:rolled_back:GATE_FAILED",
      "1.0.0:succeeded:-",
    ]);
    const seen = await traffic.stop();
    traffic = undefined;
    // The traffic really reached both the failing candidate and the kept releases.
    expect(seen.served.filter((v) => v === "1.1.0").length).toBeGreaterThan(5);
    expect(seen.served.filter((v) => v === "1.2.0").length).toBeGreaterThan(5);
    expect(agent.alive).toBe(true);
  }, 180_000);
});
