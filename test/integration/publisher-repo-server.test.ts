import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RepoServer, startRepoServer } from "../../publisher/repo-server.js";

const BUNDLE = "releases/m/1.0.0/m-1.0.0.tar.gz";
const POINTER = "channels/m/stable.json";
let root: string;
let repoDir: string;
let server: RepoServer;
let content: Buffer;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http sends the path as written, so `..` and `%2e%2e` reach the server unnormalized. */
function get(path: string, headers: Record<string, string> = {}, method = "GET", agent?: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server.port, path, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-serve-"));
  repoDir = join(root, "repo");
  // Started before the repository exists, as the test world does.
  server = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  content = randomBytes(3 * 1024 * 1024 + 123);
  await mkdir(join(repoDir, "releases", "m", "1.0.0"), { recursive: true });
  await mkdir(join(repoDir, "channels", "m"), { recursive: true });
  await writeFile(join(repoDir, BUNDLE), content);
  await writeFile(join(repoDir, POINTER), '{"signed":{}}');
  await writeFile(join(repoDir, "releases", "m", "1.0.0", ".m-1.0.0.tar.gz.abc.tmp"), "half written");
  await writeFile(join(repoDir, "empty.bin"), "");
  await writeFile(join(root, "secret.txt"), "outside the repository");
  await symlink(join(root, "secret.txt"), join(repoDir, "escape.txt"));
  await symlink("releases/m/1.0.0/m-1.0.0.tar.gz", join(repoDir, "alias.tar.gz"));
});

afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

describe("repository server", () => {
  it("reports its URL and serves a whole file with its headers", async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const r = await get(`/${BUNDLE}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(content)).toBe(true);
    expect(r.headers["content-length"]).toBe(String(content.length));
    expect(r.headers["accept-ranges"]).toBe("bytes");
    expect(r.headers["content-type"]).toBe("application/gzip");
    expect(r.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(r.headers["cache-control"]).toBeUndefined();
    expect(r.headers["last-modified"]).toBeDefined();
    const viaFetch = await fetch(`${server.url}/${POINTER}`);
    expect(viaFetch.headers.get("cache-control")).toBe("no-cache");
    expect(viaFetch.headers.get("content-type")).toBe("application/json");
    expect(await viaFetch.text()).toBe('{"signed":{}}');
  });

  it("answers HEAD with the GET headers and no body", async () => {
    const full = await get(`/${BUNDLE}`);
    const head = await get(`/${BUNDLE}`, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    for (const h of ["content-length", "etag", "content-type", "accept-ranges"]) expect(head.headers[h]).toBe(full.headers[h]);
  });

  it.each([
    ["bytes=0-99", 0, 99],
    ["bytes=1048570-2097160", 1048570, 2097160],
    ["bytes=3145000-", 3145000, 3 * 1024 * 1024 + 122],
    ["bytes=-500", 3 * 1024 * 1024 + 123 - 500, 3 * 1024 * 1024 + 122],
    ["bytes=3145700-99999999", 3145700, 3 * 1024 * 1024 + 122],
  ])("serves Range %s as 206 with Content-Range", async (range, start, end) => {
    const r = await get(`/${BUNDLE}`, { Range: range });
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes ${start}-${end}/${content.length}`);
    expect(r.headers["content-length"]).toBe(String(end - start + 1));
    expect(r.body.equals(content.subarray(start, end + 1))).toBe(true);
  });

  it("answers an unsatisfiable range with 416 and the size, and several ranges with the whole file", async () => {
    const r = await get(`/${BUNDLE}`, { Range: `bytes=${content.length}-` });
    expect(r.status).toBe(416);
    expect(r.headers["content-range"]).toBe(`bytes */${content.length}`);
    expect((await get("/empty.bin", { Range: "bytes=0-" })).status).toBe(416);
    const multi = await get(`/${BUNDLE}`, { Range: "bytes=0-1,5-6" });
    expect(multi.status).toBe(200);
    expect(multi.body.length).toBe(content.length);
  });

  it("answers a matching If-None-Match with 304 and no body", async () => {
    const { headers } = await get(`/${BUNDLE}`, {}, "HEAD");
    const etag = headers.etag as string;
    const r = await get(`/${BUNDLE}`, { "If-None-Match": etag });
    expect(r.status).toBe(304);
    expect(r.body.length).toBe(0);
    expect(r.headers.etag).toBe(etag);
    expect((await get(`/${BUNDLE}`, { "If-None-Match": `W/${etag}` })).status).toBe(304);
    expect((await get(`/${BUNDLE}`, { "If-None-Match": '"stale"' })).status).toBe(200);
  });

  it("changes the ETag when the file changes, and honours If-Range only for the current one", async () => {
    const path = join(repoDir, "changing.bin");
    await writeFile(path, "first version");
    const before = (await get("/changing.bin", {}, "HEAD")).headers.etag as string;
    const partial = await get("/changing.bin", { Range: "bytes=0-4", "If-Range": before });
    expect(partial.status).toBe(206);
    expect(partial.body.toString()).toBe("first");

    await writeFile(path, "second version, longer");
    const after = (await get("/changing.bin", {}, "HEAD")).headers.etag as string;
    expect(after).not.toBe(before);
    const stale = await get("/changing.bin", { Range: "bytes=0-4", "If-Range": before });
    expect(stale.status).toBe(200);
    expect(stale.body.toString()).toBe("second version, longer");
  });

  it.each([
    "/../secret.txt",
    "/releases/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/releases/m/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/escape.txt",
    "/releases/m/1.0.0/.m-1.0.0.tar.gz.abc.tmp",
    "/releases/m/1.0.0",
    "/releases/m/1.0.0/",
    "/",
    "/missing.json",
    "/releases//m/1.0.0/m-1.0.0.tar.gz",
  ])("answers %s with 404", async (path) => {
    const r = await get(path);
    expect(r.status).toBe(404);
    expect(r.body.toString()).not.toContain("outside");
  });

  it("follows a symlink that stays inside the repository", async () => {
    const r = await get("/alias.tar.gz", { Range: "bytes=0-9" });
    expect(r.status).toBe(206);
    expect(r.body.equals(content.subarray(0, 10))).toBe(true);
  });

  it("refuses other methods with 405", async () => {
    const r = await get(`/${BUNDLE}`, {}, "PUT");
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("GET, HEAD");
  });

  it("closes even with a keep-alive connection open", async () => {
    const other = await startRepoServer({ repoDir, port: 0 });
    const agent = new Agent({ keepAlive: true });
    const saved = server;
    server = other;
    try {
      expect((await get(`/${POINTER}`, {}, "GET", agent)).status).toBe(200);
      await other.close();
      await expect(get(`/${POINTER}`)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    } finally {
      server = saved;
      agent.destroy();
    }
  });
});
