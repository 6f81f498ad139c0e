import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { backoffDelay, sleep } from "../../shared/backoff.js";
import { IO_CHUNK, sha256File } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import { fsyncDir } from "../../shared/fs-atomic.js";
import { finishedDownloadPath } from "../install/layout.js";
import type { Logger } from "../logging.js";
import { openGet, parseContentRange, TransientHttpError } from "./http-get.js";
import { PartWriter } from "./part-writer.js";

export interface DownloadOptions {
  url: string;
  /** e.g. <data>/downloads/model-1.2.0.tar.gz.part; kept across agent restarts for resume. */
  partPath: string;
  /** From the signed release manifest. */
  expectedSize: number;
  expectedSha256: string;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (received: number, total: number) => void;
  /** `attempts` is the config's download.retries. */
  retry: { attempts: number; baseMs: number; capMs: number };
  /** A connection that sends nothing for this long is dropped and retried (download.idleTimeoutSeconds). */
  idleTimeoutMs: number;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256: string;
  /** Bytes received from the network by this call (all attempts). */
  bytesTransferred: number;
  /** Bytes of an earlier run's part file that the server let us keep. */
  resumedFrom: number;
  /** HTTP requests made (0 when the finished file was already there). */
  attempts: number;
}

const PART_SUFFIX = ".part";

/** Marks a failure worth another attempt (network, idle, 5xx); `cause` is the real error. */
class Retryable extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}

interface PassState {
  attempts: number;
  transferred: number;
  resumedFrom: number | undefined;
  /** The file was assembled from more than one response (or an earlier run): a mismatch may be our seam. */
  stitched: boolean;
}

interface PassResult extends PassState {
  sha256: string;
  size: number;
}

export async function downloadArtifact(opts: DownloadOptions): Promise<DownloadResult> {
  const { partPath, expectedSha256, logger } = opts;
  if (!partPath.endsWith(PART_SUFFIX)) {
    throw new EdgeError("INTERNAL", `download target ${partPath} must end in ${PART_SUFFIX}`);
  }
  const finalPath = finishedDownloadPath(partPath);
  const started = Date.now();

  const done = await finishedEarlier(finalPath, opts);
  if (done) return done;
  await mkdir(dirname(partPath), { recursive: true });

  let pass = await runPassOrClean(opts);
  let attempts = pass.attempts;
  let transferred = pass.transferred;
  if (pass.sha256 !== expectedSha256 && pass.stitched) {
    await rm(partPath, { force: true });
    logger.warn(
      { url: opts.url, expected: expectedSha256, actual: pass.sha256 },
      "digest mismatch after a resumed download; downloading again from zero",
    );
    pass = await runPassOrClean(opts);
    attempts += pass.attempts;
    transferred += pass.transferred;
  }
  if (pass.sha256 !== expectedSha256) {
    await rm(partPath, { force: true });
    throw new EdgeError(
      "DIGEST_MISMATCH",
      `${opts.url}: SHA-256 of the ${pass.size} bytes received is ${pass.sha256}, the manifest says ${expectedSha256}`,
    );
  }
  await rename(partPath, finalPath);
  await fsyncDir(dirname(finalPath));
  logger.info({ bytes: pass.size, transferred, attempts, ms: Date.now() - started }, "download finished");
  return {
    path: finalPath,
    size: pass.size,
    sha256: pass.sha256,
    bytesTransferred: transferred,
    resumedFrom: pass.resumedFrom ?? 0,
    attempts,
  };
}

/** A restart after the rename: the finished file is there, and is kept if it still verifies. */
async function finishedEarlier(finalPath: string, opts: DownloadOptions): Promise<DownloadResult | undefined> {
  const size = await stat(finalPath).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) return undefined;
  const digest = size === opts.expectedSize ? await sha256File(finalPath) : undefined;
  if (digest?.sha256 === opts.expectedSha256) {
    await rm(opts.partPath, { force: true });
    opts.logger.info({ path: finalPath, bytes: size }, "download already complete");
    return { path: finalPath, size, sha256: digest.sha256, bytesTransferred: 0, resumedFrom: size, attempts: 0 };
  }
  opts.logger.warn({ path: finalPath, size, sha256: digest?.sha256 }, "finished download does not verify; downloading again");
  await rm(finalPath, { force: true });
  return undefined;
}

async function runPassOrClean(opts: DownloadOptions): Promise<PassResult> {
  try {
    return await runPass(opts);
  } catch (err) {
    // The server's file is not the one the manifest describes: what we kept of it is worthless.
    if (err instanceof EdgeError && err.code === "SIZE_MISMATCH") await rm(opts.partPath, { force: true });
    throw err;
  }
}

/** Attempts with backoff until the part file holds `expectedSize` bytes. */
async function runPass(opts: DownloadOptions): Promise<PassResult> {
  const retry = opts.retry;
  const maxAttempts = Math.max(1, retry.attempts);
  const writer = await PartWriter.open(opts.partPath, opts.expectedSize);
  const state: PassState = { attempts: 0, transferred: 0, resumedFrom: undefined, stitched: false };
  try {
    opts.logger.info({ url: opts.url, resumeFrom: writer.offset }, "download started");
    for (;;) {
      state.attempts += 1;
      try {
        await attempt(opts, writer, state);
        break;
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        if (!(err instanceof Retryable)) throw err;
        if (state.attempts >= maxAttempts) {
          throw new EdgeError(
            "DOWNLOAD_FAILED",
            `${opts.url}: gave up after ${state.attempts} attempts (${err.message}); ` +
              `${writer.offset} of ${opts.expectedSize} bytes kept for the next try`,
            { cause: err.cause ?? err },
          );
        }
        const delayMs = backoffDelay(state.attempts - 1, retry);
        opts.logger.warn(
          { attempt: state.attempts, delayMs, received: writer.offset, err: err.cause ?? err },
          "download interrupted; retrying",
        );
        await sleep(delayMs, opts.signal);
      }
    }
    await writer.sync();
    return { ...state, sha256: writer.digest(), size: writer.offset };
  } finally {
    await writer.close();
  }
}

/** One request, appending what it brings to the part file. */
async function attempt(opts: DownloadOptions, writer: PartWriter, state: PassState): Promise<void> {
  const { url, expectedSize } = opts;
  const offset = writer.offset;
  if (offset === expectedSize) {
    // Everything is on disk already (a crash between the last byte and the rename): nothing to ask for.
    state.resumedFrom ??= offset;
    state.stitched ||= offset > 0;
    return;
  }
  let opened: Awaited<ReturnType<typeof openGet>>;
  try {
    opened = await openGet({
      url,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      idleTimeoutMs: opts.idleTimeoutMs,
      signal: opts.signal,
    });
  } catch (err) {
    if (err instanceof EdgeError) throw err;
    throw new Retryable(`request failed: ${(err as Error).message}`, err);
  }
  try {
    await acceptStatus(opts, opened.res.statusCode ?? 0, opened.res.headers, writer, state);
    state.resumedFrom ??= writer.offset;
    let reported = writer.offset;
    const body = opened.res[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await body.next();
      } catch (err) {
        throw new Retryable(`connection lost after ${writer.offset} bytes: ${(err as Error).message}`, err);
      }
      if (next.done) break;
      opened.pause();
      const chunk = next.value;
      if (writer.offset + chunk.length > expectedSize) {
        throw new EdgeError(
          "SIZE_MISMATCH",
          `${url} sent more than the ${expectedSize} bytes the manifest says (at least ${writer.offset + chunk.length})`,
        );
      }
      await writer.append(chunk);
      state.transferred += chunk.length;
      if (writer.offset - reported >= IO_CHUNK || writer.offset === expectedSize) {
        reported = writer.offset;
        opts.onProgress?.(writer.offset, expectedSize);
      }
      opened.touch();
    }
    if (writer.offset < expectedSize) {
      throw new Retryable(`connection ended after ${writer.offset} of ${expectedSize} bytes`);
    }
  } finally {
    opened.close();
    // Whatever arrived is kept, for the next attempt or the next run.
    await writer.flush();
  }
}

async function acceptStatus(
  opts: DownloadOptions,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  writer: PartWriter,
  state: PassState,
): Promise<void> {
  const { url, expectedSize } = opts;
  const offset = writer.offset;
  if (status === 408 || status === 429 || status >= 500) {
    throw new Retryable(`HTTP ${status}`, new TransientHttpError(status, url));
  }
  if (status === 416) {
    throw new EdgeError(
      "SIZE_MISMATCH",
      `${url} has fewer than the ${offset} bytes already downloaded (HTTP 416), the manifest says ${expectedSize}`,
    );
  }
  if (status === 200) {
    if (offset > 0) {
      opts.logger.info({ url, offset }, "server ignored the Range request; starting over");
      await writer.truncate();
    }
    const length = headerNumber(headers["content-length"]);
    if (length !== undefined && length !== expectedSize) {
      throw new EdgeError("SIZE_MISMATCH", `${url} is ${length} bytes, the manifest says ${expectedSize}`);
    }
    return;
  }
  if (status === 206) {
    const raw = headers["content-range"];
    const range = parseContentRange(typeof raw === "string" ? raw : undefined);
    if (range?.total !== undefined && range.total !== expectedSize) {
      throw new EdgeError("SIZE_MISMATCH", `${url} is ${range.total} bytes, the manifest says ${expectedSize}`);
    }
    if (range?.start !== offset) {
      // A server that answers another range than asked cannot be trusted to resume: start clean.
      await writer.truncate();
      throw new Retryable(`asked for bytes from ${offset}, got Content-Range ${JSON.stringify(raw)}`);
    }
    state.stitched ||= offset > 0;
    return;
  }
  throw new EdgeError("HTTP_ERROR", `${url} answered HTTP ${status}`);
}

function headerNumber(value: string | string[] | undefined): number | undefined {
  if (typeof value !== "string" || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}
