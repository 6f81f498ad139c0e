import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { open, rm, stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { IO_CHUNK } from "../shared/digest.js";

/**
 * A valid whole-file BSDIFF40 patch made without bsdiff's suffix sort (which
 * takes minutes on 64 MiB and did not finish in 10 on 512 MiB): one control
 * triple covering the whole file, the byte-wise difference new - old in the
 * diff block, the bytes past the old file's end in the extra block, each block
 * bzip2-compressed by the `bzip2` binary at level 9 as bsdiff does. It is not
 * what bsdiff would emit (bsdiff's patch is usually smaller), but bspatch does
 * the same work on it: it holds the whole old and new files in memory and
 * decompresses and adds every byte. The benchmark uses it only to time bspatch.
 *
 * Layout (bsdiff 4.3): "BSDIFF40", then three 8-byte sign-magnitude
 * little-endian numbers (compressed control length, compressed diff length,
 * new size), then the three bzip2 streams.
 */
export async function writeWholeFileBsdiff(oldPath: string, newPath: string, patchPath: string): Promise<void> {
  const [{ size: oldSize }, { size: newSize }] = [await stat(oldPath), await stat(newPath)];
  const common = Math.min(oldSize, newSize);
  const control = Buffer.concat([offt(common), offt(newSize - common), offt(0)]);
  const parts = [`${patchPath}.ctrl`, `${patchPath}.diff`, `${patchPath}.extra`];
  try {
    await bzip2(oneChunk(control), parts[0] as string);
    await bzip2(differences(oldPath, newPath, common), parts[1] as string);
    await bzip2(createReadStream(newPath, { start: common, highWaterMark: IO_CHUNK }), parts[2] as string);
    const [ctrlLen, diffLen] = [(await stat(parts[0] as string)).size, (await stat(parts[1] as string)).size];
    const header = Buffer.concat([Buffer.from("BSDIFF40", "ascii"), offt(ctrlLen), offt(diffLen), offt(newSize)]);
    const out = createWriteStream(patchPath);
    await pipeline(async function* () {
      yield header;
      for (const part of parts) yield* createReadStream(part, { highWaterMark: IO_CHUNK });
    }, out);
  } finally {
    await Promise.all(parts.map((p) => rm(p, { force: true })));
  }
}

/** bsdiff's offtout: magnitude little-endian, sign in the top bit (only non-negative numbers here). */
function offt(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt(value));
  return out;
}

async function* oneChunk(bytes: Buffer): AsyncIterable<Buffer> {
  yield bytes;
}

/** (new[i] - old[i]) mod 256 for i < length, a chunk at a time: what bspatch adds back. */
async function* differences(oldPath: string, newPath: string, length: number): AsyncIterable<Buffer> {
  const [oldFile, newFile] = [await open(oldPath, "r"), await open(newPath, "r")];
  try {
    const [a, b] = [Buffer.alloc(IO_CHUNK), Buffer.alloc(IO_CHUNK)];
    for (let pos = 0; pos < length; ) {
      const n = Math.min(IO_CHUNK, length - pos);
      await oldFile.read(a, 0, n, pos);
      await newFile.read(b, 0, n, pos);
      const out = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) out[i] = ((b[i] as number) - (a[i] as number)) & 0xff;
      yield out;
      pos += n;
    }
  } finally {
    await Promise.all([oldFile.close(), newFile.close()]);
  }
}

async function bzip2(source: AsyncIterable<Buffer>, outPath: string): Promise<void> {
  const child = spawn("bzip2", ["-9", "-c"], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  await Promise.all([pipeline(source, child.stdin), pipeline(child.stdout, createWriteStream(outPath))]);
  const code = await exited;
  if (code !== 0) throw new Error(`bzip2 exited with ${code}`);
}
