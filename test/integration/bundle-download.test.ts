import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type DownloadOptions, downloadArtifact } from "../../agent/bundle/download.js";
import { silentLogger } from "../../agent/logging.js";
import { sha256Hex } from "../../shared/digest.js";
import { type FlakyServer, startFlakyServer } from "../helpers/flaky-server.js";

const MiB = 1024 * 1024;
const body = randomBytes(3 * MiB + 4321);
const digest = sha256Hex(body);

let root: string;
let dir: string;
let server: FlakyServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-download-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  dir = await mkdtemp(join(root, "case-"));
  server = await startFlakyServer(body);
});

afterEach(async () => {
  await server.close();
});

const partPath = (): string => join(dir, "model-1.2.0.tar.gz.part");
const finalPath = (): string => join(dir, "model-1.2.0.tar.gz");

function options(extra: Partial<DownloadOptions> = {}): DownloadOptions {
  return {
    url: server.url,
    partPath: partPath(),
    expectedSize: body.length,
    expectedSha256: digest,
    logger: silentLogger(),
    retry: { attempts: 4, baseMs: 5, capMs: 20 },
    idleTimeoutMs: 5_000,
    ...extra,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "no error";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe("downloadArtifact", () => {
  it("downloads, verifies and renames the part file into place", async () => {
    const progress: number[] = [];
    const result = await downloadArtifact(options({ onProgress: (received) => progress.push(received) }));
    expect(result).toEqual({
      path: finalPath(),
      size: body.length,
      sha256: digest,
      bytesTransferred: body.length,
      resumedFrom: 0,
      attempts: 1,
    });
    expect((await readFile(finalPath())).equals(body)).toBe(true);
    expect(await readdir(dir)).toEqual(["model-1.2.0.tar.gz"]);
    expect(progress.at(-1)).toBe(body.length);
    expect(server.requests[0]?.range).toBeUndefined();
  });

  it("resumes with Range after a dropped connection, transferring each byte once", async () => {
    server.plan({ dropAfter: MiB + 123 });
    const result = await downloadArtifact(options());
    expect((await readFile(finalPath())).equals(body)).toBe(true);
    expect(server.requests).toHaveLength(2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.requests[1]?.range ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(MiB + 123);
    expect(server.requests[1]?.status).toBe(206);
    expect(result.bytesTransferred).toBe(body.length);
    expect(result.attempts).toBe(2);
    expect(server.totalBytesSent()).toBeLessThan(body.length * 1.5);
  });

  it("resumes from the part file an aborted earlier run left behind", async () => {
    server.plan({ stallAfter: 2 * MiB });
    const controller = new AbortController();
    const reason = new Error("agent stopping");
    const first = downloadArtifact(
      options({
        signal: controller.signal,
        idleTimeoutMs: 60_000,
        onProgress: (received) => {
          if (received >= MiB) controller.abort(reason);
        },
      }),
    );
    await expect(first).rejects.toBe(reason);
    const kept = (await stat(partPath())).size;
    expect(kept).toBeGreaterThanOrEqual(MiB);
    expect(kept).toBeLessThan(body.length);

    const second = await downloadArtifact(options());
    expect(server.requests[1]?.range).toBe(`bytes=${kept}-`);
    expect(second.resumedFrom).toBe(kept);
    expect(second.bytesTransferred).toBe(body.length - kept);
    expect((await readFile(finalPath())).equals(body)).toBe(true);
  });

  it("starts over when the server ignores Range and sends the whole file", async () => {
    await writeFile(partPath(), body.subarray(0, 1000));
    server.plan({ ignoreRange: true });
    const result = await downloadArtifact(options());
    expect(server.requests[0]?.range).toBe("bytes=1000-");
    expect(server.requests[0]?.status).toBe(200);
    expect(result.resumedFrom).toBe(0);
    expect(result.bytesTransferred).toBe(body.length);
    expect((await readFile(finalPath())).equals(body)).toBe(true);
  });

  it("refuses a server that sends more than the manifest says (Content-Length)", async () => {
    server.plan({ extraBytes: 10 });
    expect(await codeOf(downloadArtifact(options()))).toBe("SIZE_MISMATCH");
    expect(server.requests).toHaveLength(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses a server that streams more than the manifest says, without writing past it", async () => {
    server.plan({ extraBytes: 10, chunked: true });
    expect(await codeOf(downloadArtifact(options()))).toBe("SIZE_MISMATCH");
    expect(server.requests).toHaveLength(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it("fails at once on 404 with HTTP_ERROR naming the status and URL", async () => {
    server.plan({ status: 404 });
    const err = await downloadArtifact(options()).catch((e: unknown) => e as Error & { code: string });
    expect(err).toMatchObject({ code: "HTTP_ERROR" });
    expect((err as Error).message).toContain("404");
    expect((err as Error).message).toContain(server.url);
    expect(server.requests).toHaveLength(1);
  });

  it("retries after 503 and succeeds", async () => {
    server.plan({ status: 503 });
    const result = await downloadArtifact(options());
    expect(result.attempts).toBe(2);
    expect((await readFile(finalPath())).equals(body)).toBe(true);
  });

  it("gives up with DOWNLOAD_FAILED when every attempt fails, keeping what arrived", async () => {
    server.plan({ dropAfter: 1000 }, { status: 503 }, { status: 503 });
    const err = await downloadArtifact(options({ retry: { attempts: 3, baseMs: 1, capMs: 2 } })).catch(
      (e: unknown) => e as Error & { code: string },
    );
    expect(err).toMatchObject({ code: "DOWNLOAD_FAILED" });
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(server.requests).toHaveLength(3);
    expect((await stat(partPath())).size).toBe(1000);
  });

  it("reports DIGEST_MISMATCH and deletes the part file", async () => {
    const err = await downloadArtifact(options({ expectedSha256: sha256Hex("something else") })).catch(
      (e: unknown) => e as Error & { code: string },
    );
    expect(err).toMatchObject({ code: "DIGEST_MISMATCH" });
    expect((err as Error).message).toContain(digest);
    expect(await readdir(dir)).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it("downloads once more from zero when a resumed file does not verify", async () => {
    // An earlier run's part file whose bytes are not the server's: the seam only shows in the digest.
    await writeFile(partPath(), randomBytes(5000));
    const result = await downloadArtifact(options());
    expect(server.requests.map((r) => r.range)).toEqual(["bytes=5000-", undefined]);
    expect(result.resumedFrom).toBe(0);
    expect((await readFile(finalPath())).equals(body)).toBe(true);
  });

  it("drops a stalled connection after idleTimeoutMs and resumes", async () => {
    server.plan({ stallAfter: 200_000 });
    const result = await downloadArtifact(options({ idleTimeoutMs: 300 }));
    // At least one retry; a loaded machine may add another, which must also resume.
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
    expect(server.requests[1]?.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(result.bytesTransferred).toBe(body.length);
    expect((await readFile(finalPath())).equals(body)).toBe(true);
  });

  it("returns a finished file from an earlier run without a request", async () => {
    await writeFile(finalPath(), body);
    const result = await downloadArtifact(options());
    expect(result).toMatchObject({ path: finalPath(), bytesTransferred: 0, attempts: 0, sha256: digest });
    expect(server.requests).toHaveLength(0);
  });
});
