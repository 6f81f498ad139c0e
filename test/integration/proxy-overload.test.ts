import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { ReverseProxy } from "../../agent/proxy/reverse-proxy.js";
import { send, startBackend } from "../helpers/backend-servers.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * maxInFlight: past the bound a request is answered 503 + Retry-After at once
 * instead of joining a queue the agent would hold in memory; once requests
 * finish, new ones are served again.
 */
describe("ReverseProxy under overload", () => {
  it("answers 503 + Retry-After beyond maxInFlight, counts it as rejected, and serves again once requests finish", async () => {
    const releases: (() => void)[] = [];
    const slow = await startBackend("1.0.0", (req, res) => {
      req.resume();
      releases.push(() => res.writeHead(200).end("done"));
    });
    cleanups.push(slow.close);
    const p = new ReverseProxy({ requestTimeoutMs: 5000, maxInFlight: 2 });
    const { port } = await p.listen(0, "127.0.0.1");
    cleanups.push(() => p.close());
    p.setBackend(slow);

    const held = [send(port), send(port)];
    while (releases.length < 2) await delay(5);
    const refused = await send(port);
    expect(refused).toMatchObject({ status: 503, headers: { "retry-after": "1", "x-model-version": "1.0.0" } });
    expect(refused.body).toMatch(/overloaded: 2 requests in flight/);
    expect(p.counters.snapshot().rejected).toBe(1);

    for (const release of releases.splice(0)) release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    const again = send(port);
    while (releases.length < 1) await delay(5);
    releases[0]?.();
    expect(await again).toMatchObject({ status: 200, body: "done" });
  });
});
