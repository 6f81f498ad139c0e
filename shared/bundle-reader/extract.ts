import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { MANIFEST_MAX_BYTES, SUMS_MAX_BYTES } from "../bundle-format.js";
import { IO_CHUNK } from "../digest.js";
import { EdgeError } from "../errors.js";
import type { Logger } from "../logging.js";
import type { PayloadFile, PayloadManifest } from "../manifest.js";
import type { PublicKeyInfo } from "../signature.js";
import { BundleEntries } from "./bundle-entries.js";
import { checkBundleManifest, checkSums } from "./bundle-manifest.js";
import type { PayloadSink } from "./payload-sink.js";
import { drainEntry, readSmallEntry, StagingWriter } from "./staging-writer.js";

export interface ReadOptions {
  bundlePath: string;
  /** From the verified signed release manifest. */
  expected: { name: string; version: string; files: PayloadFile[] };
  /** When given, the bundle's manifest.json signature is verified too (sideloading). */
  trustedKeys?: PublicKeyInfo[];
  signal?: AbortSignal;
  /** Payload bytes written so far. */
  onProgress?: (bytes: number) => void;
}

export interface ExtractOptions extends ReadOptions {
  /** A staging folder that must not exist yet; created here, and removed again on any failure. */
  destDir: string;
  logger: Logger;
}

export interface ExtractResult {
  manifest: PayloadManifest;
  bytes: number;
  files: number;
}

/**
 * Streams a bundle (file -> gunzip -> tar) into `destDir`, holding at most a few
 * MiB whatever the bundle's size. The payload lands directly in `destDir`, with
 * no `payload/` prefix and no metadata beside it. Every entry is judged from its
 * header before anything is written; on any failure `destDir` is removed whole.
 */
export async function extractBundle(opts: ExtractOptions): Promise<ExtractResult> {
  const { destDir, logger } = opts;
  const started = Date.now();
  await mkdir(dirname(destDir), { recursive: true });
  try {
    await mkdir(destDir, { mode: 0o755 });
  } catch (cause) {
    throw new EdgeError("INTERNAL", `staging folder ${destDir} could not be created (it must not exist yet)`, { cause });
  }
  logger.info({ bundle: opts.bundlePath, dest: destDir }, "extraction started");
  try {
    const result = await readBundle(opts, new StagingWriter(destDir));
    logger.info({ files: result.files, bytes: result.bytes, ms: Date.now() - started }, "extraction finished");
    return result;
  } catch (err) {
    await rm(destDir, { recursive: true, force: true });
    logger.warn({ bundle: opts.bundlePath, err }, "extraction failed; staging folder removed");
    throw err;
  }
}

/**
 * Reads a whole bundle (file -> gunzip -> tar) and judges every entry: the same
 * rules, limits and digests whether the payload goes to a staging folder
 * (extractBundle) or is only checked (verifyBundle, with a CheckOnlySink).
 */
export async function readBundle(opts: ReadOptions, writer: PayloadSink): Promise<ExtractResult> {
  const { signal } = opts;
  const entries = new BundleEntries(opts.expected.files);
  const tar = tarExtract();
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  let pipeError: unknown;
  const piping = pipeline(
    createReadStream(opts.bundlePath, { highWaterMark: IO_CHUNK }),
    createGunzip({ chunkSize: IO_CHUNK }),
    new DecompressedLimit(tarBytesBound(opts.expected.files, entries.entryLimit)),
    tar,
    { signal: stop.signal },
  ).catch((err: unknown) => {
    pipeError = err;
  });

  let manifest: PayloadManifest | undefined;
  let bytes = 0;
  let files = 0;
  try {
    for await (const entry of tar) {
      const kind = entries.accept(entry.header);
      const name = entry.header.name;
      // streamx types its chunks as unknown; tar-stream emits Buffers.
      const body = entry as unknown as AsyncIterable<Buffer>;
      switch (kind.kind) {
        case "manifest":
          manifest = checkBundleManifest(await readSmallEntry(body, MANIFEST_MAX_BYTES, name), opts.expected, opts.trustedKeys);
          break;
        case "sums":
          checkSums(await readSmallEntry(body, SUMS_MAX_BYTES, name), opts.expected.files);
          break;
        case "payload-root":
          await drainEntry(body);
          break;
        case "dir":
          await writer.ensureDir(kind.path);
          await drainEntry(body);
          break;
        case "file":
          await writer.writeFile(body, kind.file, name, (n) => {
            bytes += n;
            opts.onProgress?.(bytes);
          });
          files += 1;
          break;
      }
    }
    await piping;
    if (pipeError) throw pipeError;
    entries.finish();
    await writer.syncDirs();
    // finish() saw manifest.json, so it was checked and set.
    return { manifest: manifest as PayloadManifest, bytes, files };
  } catch (err) {
    stop.abort();
    await piping;
    throw explain(err, pipeError, signal);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The error to report: the caller's abort, else a broken stream (the root cause of what follows), else ours. */
function explain(err: unknown, pipeError: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (pipeError instanceof EdgeError) return pipeError;
  const format = formatError(pipeError) ?? formatError(err);
  if (format) return format;
  if ((err as NodeJS.ErrnoException)?.code === "ENOSPC") {
    return new EdgeError("DISK_SPACE_LOW", `no space left while extracting: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/** zlib and tar-stream report format problems as plain errors; give them our codes. */
function formatError(err: unknown): EdgeError | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  const message = err.message;
  if (code === "Z_BUF_ERROR" || message === "Unexpected end of data") {
    return new EdgeError("BUNDLE_TRUNCATED", `bundle ends early (${message})`, { cause: err });
  }
  if (code?.startsWith("Z_") || /^Invalid (tar )?header|^Header exceeds max size/.test(message)) {
    return new EdgeError("BUNDLE_CORRUPT", `bundle is not a valid gzip tar (${message})`, { cause: err });
  }
  return undefined;
}

/** Room for one entry's tar header and a long-name (pax or GNU) record for a path of up to 4096 characters. */
const ENTRY_OVERHEAD_BYTES = 512 + 16 * 1024;
/** End-of-archive blocks and the padding GNU tar adds up to its 10 KiB records, with room to spare. */
const END_SLACK_BYTES = 1024 * 1024;

/**
 * The most a bundle of these files can decompress to: each file rounded up to
 * whole tar blocks, every entry's headers, the metadata entries at their
 * limits and the end of the archive. Anything more (zeros after the end, or a
 * gzip bomb) would only cost time and is refused.
 */
function tarBytesBound(files: PayloadFile[], entries: number): number {
  const payload = files.reduce((sum, f) => sum + Math.ceil(f.size / 512) * 512, 0);
  return payload + entries * ENTRY_OVERHEAD_BYTES + MANIFEST_MAX_BYTES + SUMS_MAX_BYTES + END_SLACK_BYTES;
}

/** Passes the decompressed bytes on, failing the stream once they exceed `limit`. */
class DecompressedLimit extends Transform {
  private seen = 0;

  constructor(private readonly limit: number) {
    super({ highWaterMark: IO_CHUNK });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      done(
        new EdgeError(
          "BUNDLE_CORRUPT",
          `bundle decompresses to more than the ${this.limit} bytes its manifest accounts for (data after the archive, or a gzip bomb)`,
        ),
      );
      return;
    }
    done(null, chunk);
  }
}
