import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { HashingStream, IO_CHUNK } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import { fsyncFile } from "../../shared/fs-atomic.js";

/**
 * Copies a sideloaded bundle into the data folder, hashing while copying: a
 * USB stick can change or vanish between the check and the install, so what is
 * installed is the copy, checked against the digest taken when it was offered.
 */
export async function copyLocalBundle(opts: {
  url: string;
  partPath: string;
  expectedSize: number;
  expectedSha256: string;
  signal?: AbortSignal;
}): Promise<{ path: string; bytes: number }> {
  const source = fileURLToPath(opts.url);
  const final = opts.partPath.replace(/\.part$/, "");
  const hasher = new HashingStream();
  try {
    await pipeline(
      createReadStream(source, { highWaterMark: IO_CHUNK }),
      hasher,
      createWriteStream(opts.partPath, { highWaterMark: IO_CHUNK }),
      { signal: opts.signal },
    );
  } catch (cause) {
    await rm(opts.partPath, { force: true });
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new EdgeError("DOWNLOAD_FAILED", `cannot copy ${source}: ${(cause as Error).message}`, { cause });
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
