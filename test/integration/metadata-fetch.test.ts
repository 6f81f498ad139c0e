import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchMetadata } from "../../agent/sources/metadata-fetch.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const routes = new Map<string, Handler>();
const seen: IncomingMessage[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    const handler = routes.get(req.url ?? "");
    if (handler) handler(req, res);
    else res.writeHead(404).end("no such document");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function route(path: string, handler: Handler): string {
  routes.set(path, handler);
  return `${base}${path}`;
}

async function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error("expected a failure");
}

describe("fetchMetadata", () => {
  it("returns the body as text with the ETag, and not-modified when the ETag still matches", async () => {
    const text = '{"sequence":7,"name":"ünïcode"}';
    const url = route("/doc.json", (req, res) => {
      if (req.headers["if-none-match"] === '"v7"') return void res.writeHead(304).end();
      res.writeHead(200, { etag: '"v7"', "content-type": "application/json" }).end(text);
    });
    expect(await fetchMetadata(url, { timeoutMs: 5_000 })).toEqual({ status: "ok", text, etag: '"v7"' });
    expect(await fetchMetadata(url, { timeoutMs: 5_000, etag: '"v7"' })).toEqual({ status: "not-modified" });
    expect(await fetchMetadata(url, { timeoutMs: 5_000, etag: '"v6"' })).toEqual({ status: "ok", text, etag: '"v7"' });
    expect(seen.at(-1)?.headers["if-none-match"]).toBe('"v6"');
  });

  it("reports a missing ETag as undefined and reads a chunked body whole", async () => {
    const url = route("/chunked", (_req, res) => {
      res.writeHead(200);
      res.write("first,");
      setTimeout(() => res.end("second"), 20);
    });
    expect(await fetchMetadata(url, { timeoutMs: 5_000 })).toEqual({ status: "ok", text: "first,second", etag: undefined });
  });

  it("follows relative and absolute redirects", async () => {
    route("/final", (_req, res) => res.writeHead(200, { etag: '"f"' }).end("arrived"));
    route("/hop2", (_req, res) => res.writeHead(302, { location: `${base}/final` }).end());
    const url = route("/hop1", (_req, res) => res.writeHead(301, { location: "/hop2" }).end());
    expect(await fetchMetadata(url, { timeoutMs: 5_000 })).toEqual({ status: "ok", text: "arrived", etag: '"f"' });
  });

  it("fails with HTTP_ERROR naming the status and the URL", async () => {
    const err = await failure(fetchMetadata(`${base}/missing.json`, { timeoutMs: 5_000 }));
    expect(err.code).toBe("HTTP_ERROR");
    expect(err.message).toBe(`GET ${base}/missing.json answered 404 Not Found`);
  });

  it("fails with HTTP_ERROR when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(closed.address() as { port: number }).port}/x`;
    await new Promise((r) => closed.close(r));
    const err = await failure(fetchMetadata(url, { timeoutMs: 5_000 }));
    expect(err.code).toBe("HTTP_ERROR");
    expect(err.message).toMatch(new RegExp(`^GET ${url} failed: `));
  });

  it("refuses a document over the cap, whether declared or streamed", async () => {
    const declared = route("/declared", (_req, res) => res.writeHead(200, { "content-length": "11" }).end("0123456789A"));
    const streamed = route("/streamed", (_req, res) => {
      res.writeHead(200);
      res.write("01234");
      res.end("56789A");
    });
    expect(await failure(fetchMetadata(declared, { timeoutMs: 5_000, maxBytes: 10 }))).toMatchObject({
      code: "SIZE_MISMATCH",
      message: `${declared} is 11 bytes, more than the 10 allowed for metadata`,
    });
    expect(await failure(fetchMetadata(streamed, { timeoutMs: 5_000, maxBytes: 10 }))).toMatchObject({
      code: "SIZE_MISMATCH",
      message: `${streamed} sent more than the 10 bytes allowed for metadata`,
    });
    expect(await fetchMetadata(streamed, { timeoutMs: 5_000, maxBytes: 11 })).toMatchObject({ text: "0123456789A" });
  });

  it("gives up with HTTP_ERROR after the timeout, also in the middle of a body", async () => {
    const silent = route("/silent", () => {});
    const stalls = route("/stalls", (_req, res) => {
      res.writeHead(200);
      res.write("partial");
    });
    for (const url of [silent, stalls]) {
      const err = await failure(fetchMetadata(url, { timeoutMs: 200 }));
      expect(err.code).toBe("HTTP_ERROR");
      expect(err.message).toMatch(new RegExp(`^GET ${url} failed: .*timeout`));
    }
  });

  it("rejects with the caller's abort reason, not an HTTP error", async () => {
    const url = route("/slow", () => {});
    const controller = new AbortController();
    const reason = new Error("shutting down");
    const pending = fetchMetadata(url, { timeoutMs: 5_000, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    expect(await failure(pending)).toBe(reason);
  });
});
