import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { holdProbation, probeOnce, waitForReady } from "../../agent/service/health.js";
import { EdgeError } from "../../shared/errors.js";

interface TestServer {
  url: string;
  hits: () => number;
  close: () => Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A real HTTP server whose answer to the n-th request (1-based) is decided by `answer`. */
async function serve(answer: (n: number, res: ServerResponse) => void): Promise<TestServer> {
  let n = 0;
  const server = createServer((_req, res) => answer(++n, res));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/ready`,
    hits: () => n,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function reply(res: ServerResponse, status: number, body = ""): void {
  res.writeHead(status, { "content-type": "text/plain" }).end(body);
}

async function rejection(p: Promise<unknown>): Promise<EdgeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    return err as EdgeError;
  }
  throw new Error("expected a rejection");
}

describe("probeOnce", () => {
  it("reports 2xx as ok, other statuses with the body's start, and connection failures", async () => {
    const s = await serve((n, res) => (n === 1 ? reply(res, 204) : reply(res, 503, "loading weights")));
    await expect(probeOnce(s.url, 1000)).resolves.toMatchObject({ ok: true, status: 204 });
    await expect(probeOnce(s.url, 1000)).resolves.toMatchObject({ ok: false, status: 503, detail: "loading weights" });
    await s.close();
    const refused = await probeOnce(s.url, 1000);
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/ECONNREFUSED/);
  });

  it("gives up on a server that never answers", async () => {
    const s = await serve(() => {});
    const r = await probeOnce(s.url, 150);
    expect(r).toMatchObject({ ok: false, error: "no answer within 150 ms" });
  });
});

describe("waitForReady", () => {
  it("resolves on the first 2xx after the service warms up", async () => {
    const s = await serve((n, res) => (n < 4 ? reply(res, 503, "warming up") : reply(res, 200, "ok")));
    const r = await waitForReady({ url: s.url, timeoutMs: 10_000, intervalMs: 20 });
    expect(r.probes).toBe(4);
    expect(s.hits()).toBe(4);
  });

  it("times out with the last probe's status and body against a service that never gets ready", async () => {
    const s = await serve((_n, res) => reply(res, 503, "model load failed: shape mismatch"));
    const err = await rejection(waitForReady({ url: s.url, timeoutMs: 300, intervalMs: 30 }));
    expect(err.code).toBe("HEALTH_TIMEOUT");
    expect(err.message).toContain("HTTP 503: model load failed: shape mismatch");
    expect(s.hits()).toBeGreaterThan(1);
  });

  it("times out naming the connection error when nothing listens", async () => {
    const s = await serve((_n, res) => reply(res, 200));
    await s.close();
    const err = await rejection(waitForReady({ url: s.url, timeoutMs: 200, intervalMs: 30 }));
    expect(err.code).toBe("HEALTH_TIMEOUT");
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it("fails at once with SERVICE_CRASHED when the crash signal aborts, long before the deadline", async () => {
    const s = await serve((_n, res) => reply(res, 503));
    const crash = new AbortController();
    setTimeout(() => crash.abort(new EdgeError("SERVICE_CRASHED", "service exited with exit code 3")), 100);
    const err = await rejection(waitForReady({ url: s.url, timeoutMs: 60_000, intervalMs: 20, crash: crash.signal }));
    expect(err.code).toBe("SERVICE_CRASHED");
    expect(err.message).toContain("exit code 3");
  });

  it("fails with SERVICE_CRASHED when the service already crashed before the wait began", async () => {
    const s = await serve((_n, res) => reply(res, 200));
    const crash = new AbortController();
    crash.abort(new Error("gone"));
    const err = await rejection(waitForReady({ url: s.url, timeoutMs: 5000, intervalMs: 250, crash: crash.signal }));
    expect(err.code).toBe("SERVICE_CRASHED");
    expect(s.hits()).toBe(0);
  });

  it("stops with the caller's reason when its own signal aborts", async () => {
    const s = await serve((_n, res) => reply(res, 503));
    const stop = new AbortController();
    setTimeout(() => stop.abort(new EdgeError("INTERRUPTED", "agent stopping")), 80);
    const err = await rejection(waitForReady({ url: s.url, timeoutMs: 60_000, intervalMs: 20, signal: stop.signal }));
    expect(err.code).toBe("INTERRUPTED");
  });
});

describe("holdProbation", () => {
  it("passes a service that stays healthy through the window, probing until its end", async () => {
    const s = await serve((_n, res) => reply(res, 200));
    const r = await holdProbation({ url: s.url, durationMs: 300, intervalMs: 50, crash: new AbortController().signal });
    expect(r.probes).toBeGreaterThanOrEqual(2);
    expect(s.hits()).toBe(r.probes);
  });

  it("fails with HEALTH_FAILED when the service starts answering 500 mid-window", async () => {
    const s = await serve((n, res) => (n <= 3 ? reply(res, 200) : reply(res, 500, "CUDA error")));
    const err = await rejection(holdProbation({ url: s.url, durationMs: 10_000, intervalMs: 30 }));
    expect(err.code).toBe("HEALTH_FAILED");
    expect(err.message).toContain("HTTP 500: CUDA error");
    expect(err.message).toContain("probe 4");
  });

  it("fails with HEALTH_FAILED when the service stops listening", async () => {
    const s = await serve((_n, res) => reply(res, 200));
    setTimeout(() => void s.close(), 100);
    const err = await rejection(holdProbation({ url: s.url, durationMs: 10_000, intervalMs: 30 }));
    expect(err.code).toBe("HEALTH_FAILED");
    expect(err.message).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
  });

  it("reports a crash during the window as SERVICE_CRASHED", async () => {
    const s = await serve((_n, res) => reply(res, 200));
    const crash = new AbortController();
    setTimeout(() => crash.abort(new EdgeError("SERVICE_CRASHED", "killed by SIGSEGV")), 100);
    const err = await rejection(holdProbation({ url: s.url, durationMs: 60_000, intervalMs: 30, crash: crash.signal }));
    expect(err.code).toBe("SERVICE_CRASHED");
    expect(err.message).toContain("SIGSEGV");
  });

  it("attributes a dropped connection to the crash reported right after it", async () => {
    const s = await serve((_n, res) => reply(res, 200));
    const crash = new AbortController();
    setTimeout(() => {
      void s.close();
      // The exit is seen a moment after the socket closes, as with a real child process.
      setTimeout(() => crash.abort(new EdgeError("SERVICE_CRASHED", "exit code 1")), 40);
    }, 100);
    const err = await rejection(holdProbation({ url: s.url, durationMs: 60_000, intervalMs: 20, crash: crash.signal }));
    expect(err.code).toBe("SERVICE_CRASHED");
  });
});
