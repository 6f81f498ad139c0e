import { Agent, request } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { LATENCY_BUCKETS_SECONDS } from "../../agent/proxy/counters.js";
import { ReverseProxy } from "../../agent/proxy/reverse-proxy.js";
import { send, startBackend, type TestBackend } from "../helpers/backend-servers.js";
import { Lockstep } from "../helpers/lockstep-stream.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(version: string, handler?: Parameters<typeof startBackend>[1]): Promise<TestBackend> {
  const b = await startBackend(
    version,
    handler ??
      ((req, res) => {
        req.resume();
        req.on("end", () => {
          // A little jitter so requests overlap the swap.
          setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end(version), Math.random() * 3);
        });
      }),
  );
  cleanups.push(b.close);
  return b;
}

async function proxy(requestTimeoutMs = 5000): Promise<{ proxy: ReverseProxy; port: number }> {
  const p = new ReverseProxy({ requestTimeoutMs });
  const { port } = await p.listen(0, "127.0.0.1");
  cleanups.push(() => p.close());
  return { proxy: p, port };
}

describe("ReverseProxy", () => {
  it("swaps backends under concurrent keep-alive load without losing or mislabelling a request", async () => {
    const a = await backend("1.0.0");
    const b = await backend("2.0.0");
    const { proxy: p, port } = await proxy();
    p.setBackend(a);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    cleanups.push(async () => agent.destroy());
    let stop = false;
    const failures: string[] = [];
    const seen = new Set<string>();
    let answered = 0;
    const client = async (): Promise<void> => {
      while (!stop) {
        try {
          const method = answered % 3 === 0 ? "POST" : "GET";
          const r = await send(port, { agent, method, body: method === "POST" ? "x".repeat(2000) : undefined });
          answered++;
          if (r.status !== 200 || r.headers["x-model-version"] !== r.body)
            failures.push(`${r.status} ${r.headers["x-model-version"]} ${r.body}`);
          seen.add(r.body);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const clients = Array.from({ length: 16 }, client);
    // Swaps paced by answers, not time: each lands among requests in flight on both sides.
    for (let i = 1; i <= 20; i++) {
      while (answered < i * 25 && failures.length === 0) await delay(1);
      p.setBackend(i % 2 === 1 ? b : a);
    }
    stop = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThanOrEqual(500);
    expect([...seen].sort()).toEqual(["1.0.0", "2.0.0"]);
  });

  it("drain waits for a slow in-flight request on the old backend, and times out when it never ends", async () => {
    const releases: (() => void)[] = [];
    const slow = await backend("1.0.0", (req, res) => {
      req.resume();
      releases.push(() => res.writeHead(200).end("slow done"));
    });
    const fast = await backend("2.0.0");
    const { proxy: p, port } = await proxy();
    p.setBackend(slow);
    const pending = send(port);
    while (releases.length === 0) await delay(5);
    p.setBackend(fast);
    expect((await send(port)).body).toBe("2.0.0");
    expect(p.state().inFlight).toMatchObject({ [`1.0.0@127.0.0.1:${slow.port}`]: 1 });

    expect(await p.drain(slow, 50)).toEqual({ drained: false, inFlight: 1 });
    let drained: { drained: boolean } | undefined;
    const draining = p.drain(slow, 10_000).then((d) => (drained = d));
    await delay(50);
    expect(drained).toBeUndefined();
    releases[0]?.();
    expect(await draining).toEqual({ drained: true, inFlight: 0 });
    expect(await pending).toMatchObject({ status: 200, body: "slow done", headers: { "x-model-version": "1.0.0" } });
    expect(await p.drain(fast, 10)).toEqual({ drained: true, inFlight: 0 });
  });

  it("streams request and response bodies chunk by chunk (never whole)", async () => {
    const CHUNK = 1024 * 1024;
    const ROUNDS = 32;
    // Lockstep: the next chunk only once the other end has the previous one. A buffering proxy deadlocks here.
    const lockstep = new Lockstep(CHUNK, ROUNDS);
    const b = await backend("1.0.0", lockstep.handler);
    const { proxy: p, port } = await proxy();
    p.setBackend(b);
    expect(await lockstep.send(port)).toBe(CHUNK * ROUNDS);
    expect(lockstep.receivedByBackend).toBe(CHUNK * ROUNDS);
  });

  it("keeps memory bounded while a large response streams through", async () => {
    const TOTAL = 256 * 1024 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 7);
    const b = await backend("1.0.0", (req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": TOTAL });
      let sent = 0;
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const { proxy: p, port } = await proxy();
    p.setBackend(b);
    const base = process.memoryUsage().rss;
    let peak = base;
    const received = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const req = request({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
        res.on("data", (c: Buffer) => {
          n += c.length;
          peak = Math.max(peak, process.memoryUsage().rss);
        });
        res.on("end", () => resolve(n));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
    expect(received).toBe(TOTAL);
    // Buffering the body whole would take at least its 256 MiB.
    expect(peak - base).toBeLessThan(96 * 1024 * 1024);
  });

  it("answers 503 with Retry-After in loading mode, and serves again once a backend is set", async () => {
    const b = await backend("2.0.0");
    const { proxy: p, port } = await proxy();
    const none = await send(port);
    expect(none).toMatchObject({ status: 503, headers: { "x-model-version": "none" } });
    p.setLoading({ retryAfterSeconds: 7, version: "2.0.0" });
    const loading = await send(port, { method: "POST", body: "ignored" });
    expect(loading.status).toBe(503);
    expect(loading.headers).toMatchObject({ "retry-after": "7", "x-model-version": "2.0.0" });
    expect(JSON.parse(loading.body).error).toMatch(/2\.0\.0 is loading/);
    p.setBackend(b);
    expect(await send(port)).toMatchObject({ status: 200, body: "2.0.0" });
    expect(p.counters.snapshot().rejected).toBe(2);
  });

  it("counts requests, errors (5xx, connection failure, timeout) and latency per version", async () => {
    const a = await backend("1.0.0", (req, res) => {
      req.resume();
      if (req.url === "/boom") res.writeHead(500).end("no");
      else if (req.url === "/hang") req.on("end", () => {});
      else res.writeHead(200).end("ok");
    });
    const gone = await backend("0.9.0");
    await gone.close();
    const { proxy: p, port } = await proxy(200);
    p.setBackend(a);
    for (let i = 0; i < 3; i++) expect((await send(port)).status).toBe(200);
    expect((await send(port, { path: "/boom" })).status).toBe(500);
    const timedOut = await send(port, { path: "/hang" });
    expect(timedOut).toMatchObject({ status: 504, headers: { "x-model-version": "1.0.0" } });
    p.setBackend(gone);
    const refused = await send(port);
    expect(refused).toMatchObject({ status: 502, headers: { "x-model-version": "0.9.0" } });

    const snap = p.counters.snapshot();
    const one = snap.versions["1.0.0"];
    expect(one).toMatchObject({ requests: 5, errors: 2 });
    expect(snap.versions["0.9.0"]).toMatchObject({ requests: 1, errors: 1 });
    expect(one?.latency.buckets).toHaveLength(LATENCY_BUCKETS_SECONDS.length);
    expect(one?.latency.count).toBe(5);
    // The timed-out request took at least 200 ms, so it is above the 0.1 s bound.
    const at100ms = LATENCY_BUCKETS_SECONDS.indexOf(0.1);
    expect(one?.latency.buckets[at100ms]).toBeLessThanOrEqual(4);
    expect(one?.latency.buckets.at(-1)).toBe(5);
    const sorted = [...(one?.latency.buckets ?? [])].sort((x, y) => x - y);
    expect(one?.latency.buckets).toEqual(sorted);
  });

  it("drops hop-by-hop headers both ways and keeps end-to-end ones", async () => {
    let seen: Record<string, unknown> = {};
    const b = await backend("1.0.0", (req, res) => {
      seen = req.headers;
      req.resume();
      res.writeHead(200, { "x-app": "yes", "x-hop": "drop me", connection: "x-hop", "keep-alive": "timeout=5" }).end("ok");
    });
    const { proxy: p, port } = await proxy();
    p.setBackend(b);
    const r = await send(port, { headers: { "x-secret-hop": "1", connection: "x-secret-hop", "x-keep": "1", te: "trailers" } });
    expect(seen["x-keep"]).toBe("1");
    expect(seen["x-secret-hop"]).toBeUndefined();
    expect(seen.te).toBeUndefined();
    expect(seen["x-forwarded-for"]).toBe("127.0.0.1");
    expect(r.headers["x-app"]).toBe("yes");
    expect(r.headers["x-hop"]).toBeUndefined();
  });
});
