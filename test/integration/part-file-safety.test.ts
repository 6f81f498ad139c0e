import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { downloadArtifact } from "../../agent/bundle/download.js";
import { copyLocalBundle } from "../../agent/bundle/local-copy.js";
import { silentLogger } from "../../agent/logging.js";
import { sha256Hex } from "../../shared/digest.js";
import { type FlakyServer, startFlakyServer } from "../helpers/flaky-server.js";

// Where the agent writes a download must be its own file: a symlink planted in
// downloads/ (by a service sharing the folder, or a hostile image) is refused, and
// a sideload source that is larger than signed cannot grow the copy past its size.

const body = randomBytes(256 * 1024 + 17);
const digest = sha256Hex(body);

let root: string;
let dataDir: string;
let outside: string;
let server: FlakyServer | undefined;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-part-safety-"));
  dataDir = join(root, "data");
  outside = join(root, "outside.txt");
  await writeFile(outside, "not the agent's\n");
  await import("node:fs/promises").then((fs) => fs.mkdir(dataDir));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(root, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "no error";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe("part files", () => {
  it("a download refuses a symlink where its part file goes (PATH_UNSAFE) and writes nothing through it", async () => {
    server = await startFlakyServer(body);
    const partPath = join(dataDir, "model-1.0.0.tar.gz.part");
    await symlink(outside, partPath);
    const code = await codeOf(
      downloadArtifact({
        url: server.url,
        partPath,
        expectedSize: body.length,
        expectedSha256: digest,
        logger: silentLogger(),
        retry: { attempts: 1, baseMs: 1, capMs: 1 },
        idleTimeoutMs: 5_000,
      }),
    );
    expect(code).toBe("PATH_UNSAFE");
    expect(await readFile(outside, "utf8")).toBe("not the agent's\n");
  });

  it("a sideload copy refuses a symlink where its part file goes and leaves its target alone", async () => {
    const source = join(root, "bundle.tar.gz");
    await writeFile(source, body);
    const partPath = join(dataDir, "model-1.0.0.tar.gz.part");
    await symlink(outside, partPath);
    const code = await codeOf(
      copyLocalBundle({ url: pathToFileURL(source).href, partPath, expectedSize: body.length, expectedSha256: digest }),
    );
    expect(code).toBe("DOWNLOAD_FAILED");
    expect(await readFile(outside, "utf8")).toBe("not the agent's\n");
  });

  it("a sideload source larger than its signed size is copied no further than one byte past it", async () => {
    const source = join(root, "bundle.tar.gz");
    // 4 MiB behind the signed 256 KiB: a file that grew (or was swapped) after it was checked.
    await writeFile(source, Buffer.concat([body, randomBytes(4 * 1024 * 1024)]));
    const partPath = join(dataDir, "model-1.0.0.tar.gz.part");
    let largest = 0;
    const watcher = setInterval(async () => {
      const st = await import("node:fs/promises").then((fs) => fs.stat(partPath)).catch(() => undefined);
      if (st) largest = Math.max(largest, st.size);
    }, 1);
    const code = await codeOf(
      copyLocalBundle({ url: pathToFileURL(source).href, partPath, expectedSize: body.length, expectedSha256: digest }),
    );
    clearInterval(watcher);
    expect(code).toBe("DIGEST_MISMATCH");
    expect(largest).toBeLessThanOrEqual(body.length + 1);
    expect(await readdir(dataDir)).toEqual([]);
  });
});
