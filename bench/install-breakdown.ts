import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { downloadArtifact } from "../agent/bundle/download.js";
import { silentLogger } from "../agent/logging.js";
import { extractBundleStream, readBundle } from "../shared/bundle-reader/extract.js";
import { CheckOnlySink } from "../shared/bundle-reader/payload-sink.js";
import { IO_CHUNK, sha256File } from "../shared/digest.js";
import type { PayloadFile } from "../shared/manifest.js";

/**
 * Where an install's time goes, each part measured alone on the same bundle,
 * one after the other (the agent overlaps the download with the rest): what
 * each stage adds over the one before it. Figures in seconds.
 */
export interface StageTimes {
  /** HTTP GET from the localhost repository, bytes dropped. */
  httpOnly: number;
  /** The agent's resumable download: HTTP, 1 MiB appends to the part file, SHA-256 of the bundle. */
  download: number;
  /** SHA-256 of the bundle file alone. */
  bundleSha256: number;
  /** Reading the file through gunzip, output dropped. */
  gunzip: number;
  /** gunzip and tar-stream parsing, entries drained. */
  gunzipTar: number;
  /** gunzip, tar and every check of the verifying reader with per-file SHA-256, nothing written. */
  gunzipTarHash: number;
  /** The same writing every file to staging, no fsync. */
  gunzipTarHashWrite: number;
  /** fsync of every written file and folder after that. */
  fsync: number;
}

export async function measureStages(opts: {
  root: string;
  bundleUrl: string;
  bundleFile: string;
  size: number;
  sha256: string;
  expected: { name: string; version: string; files: PayloadFile[] };
}): Promise<StageTimes> {
  const { root, bundleFile, expected } = opts;
  const seconds = async (work: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    await work();
    return Number(((performance.now() - start) / 1000).toFixed(2));
  };
  const read = () => createReadStream(bundleFile, { highWaterMark: IO_CHUNK });
  const partDir = join(root, "breakdown-download");
  await mkdir(partDir, { recursive: true });
  const times: StageTimes = {
    httpOnly: await seconds(() => httpDrain(opts.bundleUrl)),
    download: await seconds(() =>
      downloadArtifact({
        url: opts.bundleUrl,
        partPath: join(partDir, "bundle.tar.gz.part"),
        expectedSize: opts.size,
        expectedSha256: opts.sha256,
        logger: silentLogger(),
        retry: { attempts: 1, baseMs: 1, capMs: 1 },
        idleTimeoutMs: 30_000,
      }),
    ),
    bundleSha256: await seconds(() => sha256File(bundleFile)),
    gunzip: await seconds(() => pipeline(read(), createGunzip({ chunkSize: IO_CHUNK }), drain)),
    gunzipTar: await seconds(() => tarDrain(read())),
    gunzipTarHash: await seconds(() => readBundle({ bundlePath: bundleFile, expected }, new CheckOnlySink())),
    gunzipTarHashWrite: 0,
    fsync: 0,
  };
  await rm(partDir, { recursive: true, force: true });
  const destDir = join(root, "breakdown-staging");
  let sync: (() => Promise<void>) | undefined;
  times.gunzipTarHashWrite = await seconds(async () => {
    const extraction = await extractBundleStream(read(), { destDir, expected, logger: silentLogger() });
    sync = () => extraction.syncDeferred(() => {});
  });
  times.fsync = await seconds(() => sync?.() ?? Promise.resolve());
  await rm(destDir, { recursive: true, force: true });
  return times;
}

async function drain(source: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of source) {
    // dropped
  }
}

async function tarDrain(source: NodeJS.ReadableStream): Promise<void> {
  const tar = tarExtract();
  const piping = pipeline(source, createGunzip({ chunkSize: IO_CHUNK }), tar);
  for await (const entry of tar) await drain(entry as unknown as AsyncIterable<Buffer>);
  await piping;
}

function httpDrain(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.on("data", () => {});
      res.on("end", resolve);
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
