import { randomBytes } from "node:crypto";
import { access, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DownloadOptions, downloadArtifact } from "../../agent/bundle/download.js";
import { OnePassExtraction } from "../../agent/bundle/one-pass-extract.js";
import type { ByteTee } from "../../agent/bundle/part-writer.js";
import { UnchangedFile } from "../../agent/bundle/unchanged-file.js";
import { silentLogger } from "../../agent/logging.js";
import { sha256Hex } from "../../shared/digest.js";
import { bundlePath } from "../../shared/repo-layout.js";
import { CoreWorld } from "../helpers/core-world.js";
import { type FlakyServer, startFlakyServer } from "../helpers/flaky-server.js";
import { bundleFromFolder, type FolderBundle, newSigner } from "../helpers/tar-craft.js";

/**
 * Extraction while downloading (agent/bundle/one-pass-extract.ts fed by the
 * resumable download): a real loopback server that cuts the connection, real
 * part and staging files. The extraction must see every byte of the bundle
 * exactly once, in order, whether it came from the network or from the part
 * file an earlier run kept.
 */

const NAME = "demo-model";
const VERSION = "1.2.0";

let root: string;
let bundle: FolderBundle;
let server: FlakyServer | undefined;
let world: CoreWorld | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-one-pass-"));
  const model = join(root, "model");
  await mkdir(join(model, "sub"), { recursive: true });
  // Random bytes do not compress: the bundle stays large enough to be cut in the middle of the weights.
  await writeFile(join(model, "weights.bin"), randomBytes(3 * 1024 * 1024));
  await writeFile(join(model, "config.json"), '{"layers":4}');
  await writeFile(join(model, "sub", "vocab.txt"), "a\nb\n");
  bundle = await bundleFromFolder(model, { name: NAME, version: VERSION, signer: newSigner() });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await world?.close();
  world = undefined;
});

interface Run {
  dir: string;
  partPath: string;
  destDir: string;
}

async function newRun(): Promise<Run> {
  const dir = await mkdtemp(join(root, "run-"));
  await mkdir(join(dir, "downloads"));
  await mkdir(join(dir, "staging"));
  return { dir, partPath: join(dir, "downloads", "bundle.tar.gz.part"), destDir: join(dir, "staging", `${VERSION}.1`) };
}

function extraction(run: Run): OnePassExtraction {
  return new OnePassExtraction({
    destDir: run.destDir,
    expected: { name: NAME, version: VERSION, files: bundle.files },
    logger: silentLogger(),
  });
}

/** Counts what reaches the extraction, per reset. */
class CountingTee implements ByteTee {
  readonly fed: number[] = [];
  constructor(private readonly inner: ByteTee) {}
  async reset(): Promise<void> {
    this.fed.push(0);
    await this.inner.reset();
  }
  async write(chunk: Buffer): Promise<void> {
    this.fed[this.fed.length - 1] = (this.fed.at(-1) ?? 0) + chunk.length;
    await this.inner.write(chunk);
  }
}

function download(s: FlakyServer, run: Run, tee: ByteTee, extra: Partial<DownloadOptions> = {}) {
  return downloadArtifact({
    url: s.url,
    partPath: run.partPath,
    expectedSize: bundle.bytes.length,
    expectedSha256: sha256Hex(bundle.bytes),
    logger: silentLogger(),
    retry: { attempts: 3, baseMs: 1, capMs: 5 },
    idleTimeoutMs: 5000,
    tee,
    ...extra,
  });
}

/** Every payload file is in the staging folder with the manifest's content. */
async function expectStaged(destDir: string): Promise<void> {
  for (const f of bundle.files) {
    expect(sha256Hex(await readFile(join(destDir, f.path))), f.path).toBe(f.sha256);
  }
}

describe("extraction while downloading", () => {
  it("a connection cut mid-download: the retry resumes with Range and the extraction completes from the same bytes", async () => {
    const half = Math.floor(bundle.bytes.length / 2);
    server = await startFlakyServer(bundle.bytes, [{ dropAfter: half }]);
    const run = await newRun();
    const pass = extraction(run);
    const tee = new CountingTee(pass);
    const result = await download(server, run, tee);
    expect(server.requests.map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    expect(tee.fed).toEqual([bundle.bytes.length]);
    const extracted = await pass.finish();
    expect(extracted?.result.files).toBe(bundle.files.length);
    await extracted?.syncDeferred(() => {});
    await expectStaged(run.destDir);
    expect(result.resumedFrom).toBe(0);
  });

  it("a run that ends with the cut: the next run replays the part file into a fresh extraction, then takes the rest from the network", async () => {
    const cut = Math.floor(bundle.bytes.length * 0.6);
    server = await startFlakyServer(bundle.bytes, [{ dropAfter: cut }]);
    const run = await newRun();
    const first = extraction(run);
    await expect(download(server, run, first, { retry: { attempts: 1, baseMs: 1, capMs: 1 } })).rejects.toMatchObject({
      code: "DOWNLOAD_FAILED",
    });
    await first.discard();
    const kept = (await stat(run.partPath)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(bundle.bytes.length);

    const second = extraction(run);
    const tee = new CountingTee(second);
    const result = await download(server, run, tee);
    expect(result.resumedFrom).toBe(kept);
    expect(result.bytesTransferred).toBe(bundle.bytes.length - kept);
    expect(server.requests.at(-1)?.range).toBe(`bytes=${kept}-`);
    // One extraction, fed the kept bytes from disk and the rest from the network: the whole bundle once.
    expect(tee.fed).toEqual([bundle.bytes.length]);
    const extracted = await second.finish();
    await extracted?.syncDeferred(() => {});
    await expectStaged(run.destDir);
  });

  it("a server that ignores Range on the retry: the extraction starts again from the first byte", async () => {
    server = await startFlakyServer(bundle.bytes, [{ dropAfter: 100_000 }, { ignoreRange: true }]);
    const run = await newRun();
    const pass = extraction(run);
    const tee = new CountingTee(pass);
    await download(server, run, tee);
    expect(tee.fed.at(-1)).toBe(bundle.bytes.length);
    expect(tee.fed.length).toBeGreaterThan(1);
    const extracted = await pass.finish();
    await extracted?.syncDeferred(() => {});
    await expectStaged(run.destDir);
  });

  it("bytes that are not the bundle: the extraction stops, removes its folder, and the download still finishes", async () => {
    const junk = randomBytes(bundle.bytes.length);
    server = await startFlakyServer(junk);
    const run = await newRun();
    const pass = extraction(run);
    await downloadArtifact({
      url: server.url,
      partPath: run.partPath,
      expectedSize: junk.length,
      expectedSha256: sha256Hex(junk),
      logger: silentLogger(),
      retry: { attempts: 1, baseMs: 1, capMs: 1 },
      idleTimeoutMs: 5000,
      tee: pass,
    });
    expect(await pass.finish()).toBeUndefined();
    expect(await exists(run.destDir)).toBe(false);
  });
});

describe("the finished bundle watched until staging takes the hand-over", () => {
  it.each([
    { change: "nothing", act: async (_f: string) => {}, unchanged: true },
    {
      change: "one byte rewritten in place, same size",
      act: async (f: string) => {
        const b = await readFile(f);
        b[10] = (b[10] ?? 0) ^ 1;
        await writeFile(f, b);
      },
      unchanged: false,
    },
    {
      change: "replaced by another file",
      act: (f: string) => writeFile(`${f}.new`, "x").then(() => rename(`${f}.new`, f)),
      unchanged: false,
    },
    { change: "removed", act: (f: string) => rm(f), unchanged: false },
  ])("$change: unchanged() is $unchanged", async ({ act, unchanged }) => {
    const run = await newRun();
    const file = join(run.dir, "bundle.tar.gz");
    await writeFile(file, bundle.bytes);
    const watched = await UnchangedFile.watch(file);
    try {
      await act(file);
      expect(await watched.unchanged()).toBe(unchanged);
    } finally {
      watched.close();
    }
  });
});

describe("one pass through the update core", () => {
  it("a bundle whose SHA-256 is wrong only in bytes the extraction never judges: found at the end, staging discarded", async () => {
    world = await CoreWorld.onV1({}, { extraBytes: 1024 * 1024 });
    const w = world;
    // The gzip header's OS byte: not covered by any CRC, so every entry still extracts and verifies.
    const file = join(w.repo.repoDir, bundlePath(w.repo.name, "2.0.0"));
    const bytes = await readFile(file);
    bytes[9] = (bytes[9] ?? 0) ^ 0xff;
    await writeFile(file, bytes);

    const before = w.points.length;
    const a = await w.install("2.0.0");
    expect(a).toMatchObject({ result: "failed", errorCode: "DIGEST_MISMATCH" });
    expect(w.phases(a.id)).toEqual(["downloading", "failed"]);
    // The whole bundle went through (the download's halfway point was passed), and staging never began.
    expect(w.points.slice(before)).toContain("mid:downloading");
    expect(w.points.slice(before)).not.toContain("before:staging");
    expect(await w.staging()).toEqual([]);
    expect(await w.downloads()).toEqual([]);
    expect(await exists(join(w.layout.versionsDir, "2.0.0"))).toBe(false);
    expect(await w.active()).toBe("1.0.0");
  });
});

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
