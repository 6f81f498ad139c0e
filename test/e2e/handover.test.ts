import { afterEach, describe, expect, it } from "vitest";
import { gatedHealth } from "../helpers/gated-health.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { type Answer, answerLoop } from "../helpers/request-loop.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
let traffic: ReturnType<typeof answerLoop> | undefined;
afterEach(async () => {
  await traffic?.stop();
  traffic = undefined;
  await world?.close();
  world = undefined;
});

/** Answers that are not the model's own: refused, reset, timed out, or the proxy's 502/503/504. */
function proxyFailures(answers: readonly Answer[]): Answer[] {
  return answers.filter((a) => a.status === 0 || a.status === 502 || a.status === 503 || a.status === 504);
}

/** The versions answering, in order, with repeats folded: [1.0.0, 1.1.0] for one clean switch. */
function switches(answers: readonly Answer[]): (string | null)[] {
  const out: (string | null)[] = [];
  for (const a of answers) if (a.status === 200 && out.at(-1) !== a.version) out.push(a.version);
  return out;
}

const LOAD = { EXAMPLE_LOAD_DELAY_MS: "500" };

/**
 * service.strategy "handover": the agent's proxy owns the public port; a new
 * version loads beside the serving one (the example model takes 0.5 s to load
 * here, a window in which a restart answers nothing) and takes over between
 * two requests. A steady client sees no failed request across an update, a
 * candidate that never gets ready, and a rollback after the switch.
 */
describe("hand-over: a new version takes over with no failed request", () => {
  it("switches under steady load; a candidate never ready is stopped alone; a failed gate switches back", async () => {
    const probationSeconds = 2;
    world = await World.create({ probationSeconds, handover: {}, serviceEnv: LOAD });
    const w = world;
    // A candidate that never gets ready is given 3 s.
    const health = { ...gatedHealth(w, probationSeconds), timeoutSeconds: 3 };
    const endpointPort = await freePort();
    await w.writeConfig({
      probationSeconds,
      handover: {},
      serviceEnv: LOAD,
      extraConfig: { health, localEndpoint: { port: endpointPort } },
    });
    await w.release("1.0.0");
    const agent = w.startAgent();
    traffic = answerLoop(w.servicePort, 5);
    await w.attemptEnded("1.0.0");
    expect((await w.status()).lastUpdate).toMatchObject({ toVersion: "1.0.0", result: "succeeded" });
    // The first install had nothing serving: the proxy said so with 503 + Retry-After while it loaded.
    expect((await w.history())[0]?.handover).toMatchObject({ outcome: "cold" });
    await waitFor("1.0.0 answering", () => traffic?.answers.some((a) => a.status === 200 && a.version === "1.0.0"), 10_000);
    const firstLoad = traffic.answers.filter((a) => a.status === 503);
    expect(firstLoad.length).toBeGreaterThan(0);
    expect(firstLoad.every((a) => a.retryAfter !== null)).toBe(true);
    expect(firstLoad.some((a) => a.retryAfter === "5" && a.version === "1.0.0")).toBe(true);

    // An update under load: the old version serves until the new one is ready, then the new one serves.
    const before = traffic.answers.length;
    await w.release("1.1.0");
    await w.attemptEnded("1.1.0");
    const update = traffic.answers.slice(before);
    expect((await w.status()).lastUpdate).toMatchObject({ toVersion: "1.1.0", result: "succeeded" });
    expect(proxyFailures(update)).toEqual([]);
    expect(switches(update)).toEqual(["1.0.0", "1.1.0"]);
    expect((await w.history())[0]?.handover).toMatchObject({ outcome: "switched", reason: null, detail: "from 1.0.0" });
    // After probation the old version drained and stopped: one process left.
    await waitFor("1.0.0 stopped after its drain", async () => (await w.versionProcesses()).length === 1, 10_000);
    const serving = await w.versionProcesses();

    // A candidate that never gets ready: only it is stopped, the serving version never notices.
    const beforeBroken = traffic.answers.length;
    await w.release("1.2.0", { broken: true });
    await w.attemptEnded("1.2.0");
    const broken = traffic.answers.slice(beforeBroken);
    const s = await w.status();
    expect(s.activeVersion).toBe("1.1.0");
    expect(s.lastUpdate).toMatchObject({ toVersion: "1.2.0", result: "rolled_back", errorCode: "HEALTH_TIMEOUT" });
    expect(proxyFailures(broken)).toEqual([]);
    expect(switches(broken)).toEqual(["1.1.0"]);
    expect(await w.versionProcesses()).toEqual(serving);

    // A version that loads and answers ready, then fails one prediction in three: the gate fails after the
    // switch, and the proxy switches back to 1.1.0, still running as standby.
    const beforeGate = traffic.answers.length;
    await w.release("1.3.0", { failEvery: 3 });
    await w.attemptEnded("1.3.0");
    const gated = traffic.answers.slice(beforeGate);
    const g = await w.status();
    expect(g.activeVersion).toBe("1.1.0");
    expect(g.lastUpdate).toMatchObject({ toVersion: "1.3.0", result: "rolled_back", errorCode: "GATE_FAILED" });
    expect(g.denied).toContainEqual(expect.objectContaining({ version: "1.3.0", errorCode: "GATE_FAILED" }));
    // Its failures were the model's own 500s; the proxy failed no request.
    expect(gated.some((a) => a.status === 500 && a.version === "1.3.0")).toBe(true);
    expect(proxyFailures(gated)).toEqual([]);
    expect(switches(gated)).toEqual(["1.1.0", "1.3.0", "1.1.0"]);
    // The switch back was to the process that never stopped.
    expect(await w.versionProcesses()).toEqual(serving);
    // The agent's /metrics: the proxy's counters per version, and how each version took over.
    const metrics = await (await fetch(`http://127.0.0.1:${endpointPort}/metrics`)).text();
    expect(metrics).toMatch(/^edgepull_proxy_requests_total\{version="1\.1\.0"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^edgepull_proxy_errors_total\{version="1\.3\.0"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^edgepull_proxy_request_duration_seconds_count\{version="1\.0\.0"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^edgepull_handovers_total\{outcome="switched",reason=""\} 2$/m);
    expect(agent.alive).toBe(true);
  });
});

describe("hand-over: shadow comparison and the memory admission check", () => {
  it("compares a candidate on mirrored traffic before the switch: a close one takes over, a different one fails with SHADOW_MISMATCH", async () => {
    const shadow = {
      methods: ["POST"],
      paths: ["/predict"],
      sampleRate: 1,
      labelField: "label",
      scoreField: "scores",
      minSamples: 20,
      minAgreement: 0.9,
      maxScoreDiffP95: 0.05,
      maxLatencyRatio: 1000,
      maxDurationSeconds: 20,
    };
    world = await World.create({ handover: {}, extraConfig: { shadow } });
    const w = world;
    await w.release("1.0.0");
    const agent = w.startAgent();
    await w.attemptEnded("1.0.0");
    traffic = answerLoop(w.servicePort, 5);

    // Same weights, lightly moved: agrees on the mirrored predictions, switched in.
    const beforeClose = traffic.answers.length;
    await w.release("1.1.0", { weightsOf: "1.0.0", perturb: 0.002 });
    await w.attemptEnded("1.1.0");
    expect((await w.status()).lastUpdate).toMatchObject({ toVersion: "1.1.0", result: "succeeded" });
    const handover = (await w.history())[0]?.handover;
    expect(handover).toMatchObject({ outcome: "switched" });
    expect(handover?.detail).toMatch(/^from 1\.0\.0; shadow: \d+ compared .*agreement (0\.9\d*|1)\b/);
    // Clients were answered by the serving version until the switch, never by the candidate before it.
    const close = traffic.answers.slice(beforeClose);
    expect(proxyFailures(close)).toEqual([]);
    expect(switches(close)).toEqual(["1.0.0", "1.1.0"]);

    // Other weights: most labels differ. The candidate never answers a client; the update fails.
    const beforeFar = traffic.answers.length;
    await w.release("1.2.0");
    await w.attemptEnded("1.2.0");
    const s = await w.status();
    expect(s.activeVersion).toBe("1.1.0");
    expect(s.lastUpdate).toMatchObject({ toVersion: "1.2.0", errorCode: "SHADOW_MISMATCH" });
    expect(s.lastUpdate?.error).toMatch(/agreement 0\.\d+ below minAgreement 0\.9/);
    expect(s.denied).toContainEqual(expect.objectContaining({ version: "1.2.0", errorCode: "SHADOW_MISMATCH" }));
    const far = traffic.answers.slice(beforeFar);
    expect(proxyFailures(far)).toEqual([]);
    expect(switches(far)).toEqual(["1.1.0"]);
    expect(agent.alive).toBe(true);
  });

  it("restarts in place with 503 + Retry-After when memory for a second version is short, and records HANDOVER_SKIPPED", async () => {
    // A reserve no machine has: the admission check can never let a second version start.
    world = await World.create({ handover: { memoryReserveMiB: 1024 * 1024 }, serviceEnv: LOAD });
    const w = world;
    await w.release("1.0.0");
    w.startAgent();
    await w.attemptEnded("1.0.0");
    traffic = answerLoop(w.servicePort, 5);
    await waitFor("1.0.0 answering", () => traffic?.answers.some((a) => a.status === 200), 10_000);
    const before = traffic.answers.length;
    await w.release("1.1.0");
    await w.attemptEnded("1.1.0");
    const update = traffic.answers.slice(before);
    expect((await w.status()).lastUpdate).toMatchObject({
      toVersion: "1.1.0",
      result: "succeeded",
      handover: { outcome: "skipped", reason: "MEMORY_LOW" },
    });
    expect((await w.status()).lastUpdate?.handover?.detail).toMatch(/does not fit in MemAvailable/);
    // Not zero-downtime, and not reported as such: clients were told to come back while 1.1.0 loaded.
    const loading = update.filter((a) => a.status === 503);
    expect(loading.length).toBeGreaterThan(0);
    expect(loading.every((a) => a.retryAfter === "5" && a.version === "1.1.0")).toBe(true);
    // The proxy kept the port: no connection was refused or reset.
    expect(update.filter((a) => a.status === 0)).toEqual([]);
    expect(switches(update)).toEqual(["1.0.0", "1.1.0"]);
    const text = await w.cli(["history"]);
    expect(text.stdout).toMatch(/HANDOVER_SKIPPED: MEMORY_LOW/);
  });
});
