import { type IncomingMessage, request, type ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { ReverseProxy } from "../../agent/proxy/reverse-proxy.js";
import { EdgeError } from "../../shared/errors.js";
import { send, startBackend, type TestBackend } from "../helpers/backend-servers.js";
import { Lockstep } from "../helpers/lockstep-stream.js";
import { predictLoad } from "../helpers/predict-load.js";
import { predictShadowOptions } from "../helpers/shadow-options.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const OPTIONS = predictShadowOptions();

/** A toy classifier of `{"input": [x, y]}`: the label is the larger input, the scores the two inputs' shares. */
function classify(input: number[], flip: boolean, nudge: number): { label: string; scores: number[] } {
  const [x = 0, y = 0] = input;
  const total = Math.abs(x) + Math.abs(y) || 1;
  const scores = [Math.abs(x) / total + nudge, Math.abs(y) / total - nudge];
  const first = x >= y !== flip;
  return { label: first ? "cat" : "dog", scores };
}

interface ModelServer extends TestBackend {
  /** Bodies of the requests it received, with whether they came from the shadow. */
  received: { body: string; shadow: boolean }[];
}

async function modelServer(
  version: string,
  behaviour: { flip?: boolean; nudge?: number; answerAfterMs?: number; hang?: boolean } = {},
): Promise<ModelServer> {
  const received: ModelServer["received"] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      received.push({ body, shadow: req.headers["x-edgepull-shadow"] === "1" });
      if (behaviour.hang) return;
      const answer = (): void => {
        let input: number[];
        try {
          input = (JSON.parse(body) as { input: number[] }).input;
        } catch {
          res.writeHead(400, { "content-type": "application/json" }).end('{"error":"not JSON"}');
          return;
        }
        const out = JSON.stringify({ version, ...classify(input, behaviour.flip ?? false, behaviour.nudge ?? 0) });
        res.writeHead(200, { "content-type": "application/json" }).end(out);
      };
      if (behaviour.answerAfterMs) setTimeout(answer, behaviour.answerAfterMs);
      else answer();
    });
  };
  const b = await startBackend(version, handler);
  cleanups.push(b.close);
  return Object.assign(b, { received });
}

async function proxyFor(serving: TestBackend): Promise<{ proxy: ReverseProxy; port: number }> {
  const proxy = new ReverseProxy({ requestTimeoutMs: 5000 });
  const { port } = await proxy.listen(0, "127.0.0.1");
  cleanups.push(() => proxy.close());
  proxy.setBackend(serving);
  return { proxy, port };
}

/** Two-feature inputs that cover both labels. */
const inputs = (i: number): string => JSON.stringify({ input: [Math.sin(i) * 10, Math.cos(i) * 10] });

describe("shadow comparison through the ReverseProxy", () => {
  it("an agreeing candidate gets a verdict ok with figures, and every client is answered by the serving version", async () => {
    const serving = await modelServer("1.0.0");
    const candidate = await modelServer("1.1.0", { nudge: 0.001 });
    const { proxy, port } = await proxyFor(serving);
    const load = predictLoad(port, inputs);
    const run = proxy.startShadow(candidate, OPTIONS);
    const verdict = await run.verdict();
    await load.stop();

    expect(verdict.ok, verdict.ok ? "" : verdict.error.message).toBe(true);
    expect(verdict.figures).toMatchObject({ samples: 30, agreement: 1, scoreUnmatched: 0 });
    expect(verdict.figures.scoreDiffP95).toBeCloseTo(0.001, 6);
    expect(verdict.figures.latencyRatio).toBeGreaterThan(0);
    expect(load.failures).toEqual([]);
    expect(load.answers.length).toBeGreaterThanOrEqual(30);
    for (const a of load.answers) {
      expect(a.status).toBe(200);
      expect(a.version).toBe("1.0.0");
      expect(JSON.parse(a.body).version).toBe("1.0.0");
    }
    // The candidate saw copies of client requests, marked, and only the shadow's.
    expect(candidate.received.length).toBeGreaterThanOrEqual(30);
    expect(candidate.received.every((r) => r.shadow)).toBe(true);
    const clientBodies = new Set(load.answers.map((a) => a.sent));
    expect(candidate.received.every((r) => clientBodies.has(r.body))).toBe(true);
    expect(serving.received.some((r) => r.shadow)).toBe(false);
  });

  it("a candidate whose labels differ fails with SHADOW_MISMATCH naming agreement, and clients never see it", async () => {
    const serving = await modelServer("1.0.0");
    const candidate = await modelServer("2.0.0", { flip: true });
    const { proxy, port } = await proxyFor(serving);
    const load = predictLoad(port, inputs);
    const verdict = await proxy.startShadow(candidate, OPTIONS).verdict();
    await load.stop();

    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.error).toBeInstanceOf(EdgeError);
    expect(verdict.error.code).toBe("SHADOW_MISMATCH");
    expect(verdict.error.message).toMatch(
      /^shadow comparison of 2\.0\.0 with 1\.0\.0: agreement 0\.\d+ below minAgreement 0\.95/,
    );
    expect(verdict.figures.samples).toBe(30);
    expect(verdict.figures.agreement).toBeLessThan(0.95);
    expect(load.failures).toEqual([]);
    expect(load.answers.every((a) => a.status === 200 && a.version === "1.0.0")).toBe(true);
    // Once decided, nothing more is mirrored.
    const seen = candidate.received.length;
    await send(port, { method: "POST", path: "/predict", body: JSON.stringify({ input: [1, 2] }) });
    expect(candidate.received.length).toBe(seen);
  });

  it("a candidate that answers the same but far slower fails on latencyRatio", async () => {
    const serving = await modelServer("1.0.0");
    const candidate = await modelServer("1.1.0", { answerAfterMs: 100 });
    const { proxy, port } = await proxyFor(serving);
    const load = predictLoad(port, inputs);
    // A ratio, not a duration: the candidate takes at least 100 ms, and the serving version's p95 is counted
    // as at least 10 ms, so this fails unless the serving p95 itself passes 50 ms.
    const run = proxy.startShadow(candidate, { ...OPTIONS, maxLatencyRatio: 2, latencyFloorMs: 10, minSamples: 10 });
    const verdict = await run.verdict();
    await load.stop();

    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.error.message).toMatch(
      /^shadow comparison of 1\.1\.0 with 1\.0\.0: latencyRatio \d+\.\d\d above maxLatencyRatio 2 \(p95: candidate \d+\.\d ms, serving \d+\.\d ms\)$/,
    );
    expect(verdict.figures.agreement).toBe(1);
    expect(verdict.figures.candidateLatencySeconds).toBeGreaterThanOrEqual(0.1);
    expect(load.failures).toEqual([]);
  });

  it.each([
    ["hangs", { hang: true }, { candidateTimeoutMs: 200, queueSize: 2, concurrency: 1 }, "candidateTimeout"],
    ["answers slowly", { answerAfterMs: 3000 }, { candidateTimeoutMs: 10_000, queueSize: 1, concurrency: 1 }, "queueFull"],
  ] as const)(
    "a candidate that %s leaves clients unaffected, and its drops are counted",
    async (_how, behaviour, limits, reason) => {
      const serving = await modelServer("1.0.0");
      const candidate = await modelServer("2.0.0", behaviour);
      const { proxy, port } = await proxyFor(serving);
      const run = proxy.startShadow(candidate, { ...OPTIONS, ...limits, maxDurationSeconds: 60 });
      const load = predictLoad(port, inputs);
      // Paced by events, not time: 200 answers and the first drop of the kind this candidate causes. A hung
      // candidate holds every mirrored request for good, so a client that waited on it would never get here.
      while ((load.answers.length < 200 || run.figures().droppedBy[reason] === 0) && load.failures.length === 0) await delay(5);
      const mirrored = candidate.received.length;
      await load.stop();
      const figures = run.figures();
      run.stop();

      expect(load.failures).toEqual([]);
      expect(load.answers.every((a) => a.status === 200 && a.version === "1.0.0")).toBe(true);
      expect(mirrored).toBeGreaterThan(0);
      // A slow candidate may have finished an answer or two by now; a hung one never does.
      if (reason === "candidateTimeout") expect(figures.samples).toBe(0);
      expect(figures.droppedBy[reason]).toBeGreaterThan(0);
      expect(figures.dropped).toBeGreaterThan(0);
      await expect(run.verdict()).rejects.toMatchObject({ code: "INTERRUPTED" });
    },
  );

  it("no traffic is not agreement: SHADOW_MISMATCH after maxDurationSeconds with only 0 of N samples", async () => {
    const serving = await modelServer("1.0.0");
    const candidate = await modelServer("1.1.0");
    const { proxy } = await proxyFor(serving);
    const verdict = await proxy.startShadow(candidate, { ...OPTIONS, maxDurationSeconds: 1 }).verdict();
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.error.code).toBe("SHADOW_MISMATCH");
    expect(verdict.error.message).toBe(
      "shadow comparison of 1.1.0 with the serving version: only 0 of 30 samples within 1 s (0 dropped)",
    );
    expect(verdict.figures).toMatchObject({ samples: 0, dropped: 0, agreement: null, latencyRatio: null });
    expect(candidate.received).toEqual([]);
  });

  it("mirrors only the configured methods and paths, and not a body over maxBodyKiB, which still reaches the serving version whole", async () => {
    const serving = await modelServer("1.0.0");
    const candidate = await modelServer("1.1.0");
    const { proxy, port } = await proxyFor(serving);
    const run = proxy.startShadow(candidate, { ...OPTIONS, maxBodyKiB: 1 });
    const big = JSON.stringify({ input: [3, 4], pad: "x".repeat(4096) });
    const r = await send(port, { method: "POST", path: "/predict", body: big });
    expect(r.status).toBe(200);
    expect(serving.received.at(-1)?.body).toBe(big);
    await send(port, { method: "POST", path: "/other", body: JSON.stringify({ input: [1, 2] }) });
    await send(port, { method: "POST", path: "/predictions", body: JSON.stringify({ input: [1, 2] }) });
    await send(port, { method: "GET", path: "/predict" }).catch(() => undefined);
    expect(run.figures().droppedBy.bodyTooLarge).toBe(1);
    await send(port, { method: "POST", path: "/predict?x=1", body: JSON.stringify({ input: [1, 2] }) });
    while (run.figures().samples < 1) await delay(5);
    expect(candidate.received.map((c) => c.body)).toEqual([JSON.stringify({ input: [1, 2] })]);
    run.stop();
  });

  it("keeps a large request and answer streaming chunk by chunk while mirroring is on (neither is mirrored)", async () => {
    // Lockstep both ways: a tap that held either stream back would stall it; past maxBodyKiB it gives its copies up.
    const lockstep = new Lockstep(256 * 1024, 16);
    const serving = await startBackend("1.0.0", lockstep.handler);
    cleanups.push(serving.close);
    const candidate = await modelServer("1.1.0");
    const { proxy, port } = await proxyFor(serving);
    const run = proxy.startShadow(candidate, { ...OPTIONS, paths: ["/"], maxBodyKiB: 64 });
    expect(await lockstep.send(port, "/upload")).toBe(lockstep.totalBytes);
    expect(lockstep.receivedByBackend).toBe(lockstep.totalBytes);
    expect(run.figures()).toMatchObject({ samples: 0, droppedBy: { bodyTooLarge: 1 } });
    expect(candidate.received).toEqual([]);
  });

  it("a client gone mid-upload is dropped as incomplete, even when the serving version answered early", async () => {
    const serving = await startBackend("1.0.0", (req, res) => {
      // Answers on the headers alone, before the body is in (as a server refusing an upload does).
      res.writeHead(200, { "content-type": "application/json" }).end('{"label":"early"}');
      req.resume();
    });
    cleanups.push(serving.close);
    const candidate = await modelServer("1.1.0");
    const { proxy, port } = await proxyFor(serving);
    const run = proxy.startShadow(candidate, OPTIONS);
    const answered = new Promise<void>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port, method: "POST", path: "/predict", agent: false, headers: { "content-length": "1000" } },
        (res) => {
          res.resume();
          res.on("end", () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on("error", () => {});
      req.write("x".repeat(10));
      setTimeout(() => reject(new Error("no answer")), 10_000).unref();
    });
    await answered;
    while (run.figures().droppedBy.servingIncomplete === 0) await delay(5);
    expect(run.figures()).toMatchObject({ samples: 0, dropped: 1 });
    expect(candidate.received).toEqual([]);
    run.stop();
  });

  it("a new startShadow stops the running one; verdict() follows its signal; close() stops the run", async () => {
    const serving = await modelServer("1.0.0");
    const first = await modelServer("1.1.0");
    const second = await modelServer("1.2.0");
    const { proxy, port } = await proxyFor(serving);
    const one = proxy.startShadow(first, OPTIONS);
    const two = proxy.startShadow(second, OPTIONS);
    await expect(one.verdict()).rejects.toMatchObject({
      code: "INTERRUPTED",
      message: "shadow comparison of 1.1.0 was stopped before a verdict (0 of 30 samples)",
    });
    await send(port, { method: "POST", path: "/predict", body: inputs(1) });
    while (two.figures().samples < 1) await delay(5);
    expect(first.received).toEqual([]);
    expect(second.received).toHaveLength(1);

    const controller = new AbortController();
    const waiting = two.verdict(controller.signal);
    controller.abort(new Error("shutting down"));
    await expect(waiting).rejects.toThrow("shutting down");
    // The run goes on after an abandoned wait, until stopped: here by the proxy's close().
    expect(two.figures().samples).toBe(1);
    const later = two.verdict();
    await proxy.close();
    await expect(later).rejects.toMatchObject({ code: "INTERRUPTED" });
  });
});
