import { constants } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { HashingStream, IO_CHUNK } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import { fsyncFile } from "../../shared/fs-atomic.js";
import { finishedDownloadPath } from "../install/layout.js";
import { openRegularFile, readChunks } from "./regular-file.js";

/**
 * Copies a sideloaded bundle into the data folder, hashing while copying: a
 * USB stick can change or vanish between the check and the install, so what is
 * installed is the copy, checked against the digest taken when it was offered.
 * Only ever called for a sideload (the attempt's origin says so, not the URL):
 * a release from the repository never reaches this function.
 */
export async function copyLocalBundle(opts: {
  url: string;
  partPath: string;
  expectedSize: number;
  expectedSha256: string;
  signal?: AbortSignal;
  /** Bytes copied so far, of the signed size. */
  onProgress?: (copied: number, total: number) => void;
}): Promise<{ path: string; bytes: number }> {
  const source = localPathOf(opts.url);
  const final = finishedDownloadPath(opts.partPath);
  const hasher = new HashingStream();
  const input = await openRegularFile(source, "DOWNLOAD_FAILED");
  try {
    const output = await open(opts.partPath, PART_FLAGS, 0o644);
    await pipeline(
      // One byte past the signed size is enough to know the file is not the one checked.
      Readable.from(counted(readChunks(input, opts.expectedSize + 1), opts.expectedSize, opts.onProgress), {
        objectMode: false,
      }),
      hasher,
      output.createWriteStream({ highWaterMark: IO_CHUNK }),
      { signal: opts.signal },
    );
  } catch (cause) {
    await rm(opts.partPath, { force: true });
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new EdgeError("DOWNLOAD_FAILED", `cannot copy ${source}: ${(cause as Error).message}`, { cause });
  } finally {
    await input.close();
  }
  const sha256 = hasher.hash.digest("hex");
  if (hasher.bytes !== opts.expectedSize || sha256 !== opts.expectedSha256) {
    await rm(opts.partPath, { force: true });
    throw new EdgeError(
      "DIGEST_MISMATCH",
      `${source} changed after it was checked (${hasher.bytes} bytes, sha256 ${sha256.slice(0, 16)}…; expected ${opts.expectedSize} bytes, ${opts.expectedSha256.slice(0, 16)}…)`,
    );
  }
  await fsyncFile(opts.partPath);
  await rename(opts.partPath, final);
  return { path: final, bytes: hasher.bytes };
}

async function* counted(
  chunks: AsyncIterable<Buffer>,
  total: number,
  onProgress: ((copied: number, total: number) => void) | undefined,
): AsyncIterable<Buffer> {
  let copied = 0;
  for await (const chunk of chunks) {
    copied += chunk.length;
    onProgress?.(copied, total);
    yield chunk;
  }
}

/** A symlink planted where the part file goes is refused (ELOOP), never followed out of the data folder. */
const PART_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/** The path a sideload record's `file:` URL names; anything else is refused, so a sideload never touches the network. */
function localPathOf(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "file:") return fileURLToPath(parsed);
  } catch {
    // refused below, like any other URL that is not a local file
  }
  throw new EdgeError("URL_FORBIDDEN", `sideload source ${JSON.stringify(url)} is not a local file URL`);
}
