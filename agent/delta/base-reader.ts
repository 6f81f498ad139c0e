import type { FileHandle } from "node:fs/promises";
import { EdgeError } from "../../shared/errors.js";

/** Bytes [start, end) of a base file, which must hold them: a range past its end is a corrupt delta. */
export async function readBaseRange(
  handle: FileHandle,
  baseSize: number,
  start: number,
  end: number,
  where: string,
): Promise<Buffer> {
  if (start < 0 || end < start || end > baseSize) {
    throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} reads base bytes [${start}, ${end}) of a ${baseSize}-byte file`);
  }
  const out = Buffer.alloc(end - start);
  let done = 0;
  while (done < out.length) {
    const { bytesRead } = await handle.read(out, done, out.length - done, start + done);
    if (bytesRead === 0) throw new EdgeError("DIGEST_MISMATCH", `delta: ${where}: base file ended at ${start + done}`);
    done += bytesRead;
  }
  return out;
}
