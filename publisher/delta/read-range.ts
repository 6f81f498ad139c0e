import type { FileHandle } from "node:fs/promises";

/** Bytes [start, end) of an open file; the file must hold them all. */
export async function readRange(handle: FileHandle, start: number, end: number, what: string): Promise<Buffer> {
  const out = Buffer.alloc(end - start);
  let done = 0;
  while (done < out.length) {
    const { bytesRead } = await handle.read(out, done, out.length - done, start + done);
    if (bytesRead === 0) throw new Error(`${what}: file ended at ${start + done}, expected ${end} bytes`);
    done += bytesRead;
  }
  return out;
}
