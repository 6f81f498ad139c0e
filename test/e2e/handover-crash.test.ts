import { afterEach, describe, expect, it } from "vitest";
import { type HeldSocket, holdSocket } from "../helpers/held-socket.js";
import { type LoggedProcess, waitFor } from "../helpers/processes.js";
import { type Answer, answerLoop } from "../helpers/request-loop.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
let held: HeldSocket | undefined;
let traffic: ReturnType<typeof answerLoop> | undefined;
afterEach(async () => {
  await traffic?.stop();
  traffic = undefined;
  await world?.close();
  world = undefined;
  held?.close();
  held = undefined;
});

/** The X-Model-Version of one fresh prediction through the proxy. */
async function answeringVersion(port: number): Promise<string | null> {
  const res = await fetch(`http://127.0.0.1:${port}/predict`, {
    method: "POST",
    headers: { "content-type": "application/json", connection: "close" },
    body: JSON.stringify({ input: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }),
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status === 200 ? res.headers.get("x-model-version") : `HTTP ${res.status}`;
}

/**
 * kill -9 of the agent at each step of a hand-over, with the public port held
 * the way systemd's socket unit holds it (the agent gets it as fd 3): the
 * versions it started keep running, the next agent process serves through the
 * one the proxy used, finishes the attempt, and takes over with a version
 * process of its own. Each agent is started armed for the next update's step,
 * named by that update's version, so recovering the one before never trips it.
 */
describe("hand-over: kill -9 of the agent at each step", () => {
  it("ends every time with exactly one version serving, the one the journal calls active", async () => {
    world = await World.create({ probationSeconds: 1, handover: {}, serviceEnv: { EXAMPLE_LOAD_DELAY_MS: "300" } });
    const w = world;
    held = holdSocket(w.servicePort);
    const socket = held;
    const start = (fault?: string): LoggedProcess =>
      w.startAgent(fault ? { EDGEPULL_FAULT: fault } : {}, { listenFd: socket.fd });

    const steps = ["candidate-started", "ready", "switched", "draining"];
    const versions = steps.map((_, i) => `1.${i + 1}.0`);
    await w.release("1.0.0");
    let agent = start(`handover:${steps[0]}:${versions[0]}`);
    await w.attemptEnded("1.0.0");
    traffic = answerLoop(w.servicePort, 10);
    const seen: Answer[][] = [];

    for (const [i, step] of steps.entries()) {
      const version = versions[i] as string;
      const before = traffic.answers.length;
      await w.release(version);
      const died = await agent.exited;
      expect(died.signal, `agent killed at handover:${step}:${version}`).toBe("SIGKILL");
      expect(agent.hasLog((l) => l.point === `handover:${step}:${version}`)).toBe(true);

      const next = i + 1 < steps.length ? `handover:${steps[i + 1]}:${versions[i + 1]}` : undefined;
      agent = start(next);
      await w.attemptEnded(version);
      const s = await w.status();
      expect(s.activeVersion, `after a kill at ${step}`).toBe(version);
      expect(s.lastUpdate).toMatchObject({ toVersion: version, result: "succeeded" });
      // Exactly one version process left, and it is the one answering.
      await waitFor(`one version running after a kill at ${step}`, async () => (await w.versionProcesses()).length === 1, 15_000);
      expect(await answeringVersion(w.servicePort)).toBe(version);
      seen.push(traffic.answers.slice(before));
    }
    const answers = seen.flat();
    // The proxy lives in the agent: requests in flight when it was killed were cut. Nothing else failed:
    // no 502 or 504 from a version gone, and no refused connection (the port stayed held while no agent ran).
    expect(answers.filter((a) => a.status === 502 || a.status === 504)).toEqual([]);
    expect(answers.filter((a) => a.failure === "ECONNREFUSED")).toEqual([]);
    // One client, one request at a time: per kill, the one in flight and at most the next on its dead keep-alive socket.
    expect(answers.filter((a) => a.status === 0).length).toBeLessThanOrEqual(2 * steps.length);
    expect(answers.filter((a) => a.status === 503)).toEqual([]);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
    expect(agent.alive).toBe(true);
  });
});
