import { createReadStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import { brotliDecompress, createBrotliDecompress } from "node:zlib";
import type { Blob } from "../../shared/delta-format.js";
import { IO_CHUNK } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";

const unbrotli = promisify(brotliDecompress);

/**
 * Reads blobs of the data section, checking each against the length it must
 * decode to before allocating: a raw blob is exactly that long, a brotli blob is
 * shorter (the writer only compresses when it saves), so a lying header cannot
 * make the device allocate more than the piece the format bounds.
 */
export class DeltaBlobs {
  constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly dataStart: number,
  ) {}

  /** A blob small enough to hold (a window, a chunk, a plane). */
  async decode(blob: Blob, expected: number, where: string): Promise<Buffer> {
    checkLength(blob, expected, where);
    const stored = await this.readStored(blob, where);
    if (blob.codec === "raw") return stored;
    let out: Buffer;
    try {
      out = await unbrotli(stored, { maxOutputLength: Math.max(expected, 1) });
    } catch (err) {
      throw new EdgeError(
        "BUNDLE_CORRUPT",
        `delta: ${where} does not decompress to ${expected} bytes: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (out.length !== expected) {
      throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} decompresses to ${out.length} bytes, expected ${expected}`);
    }
    return out;
  }

  /** A blob of unknown decoded length, at most `limit` bytes both stored and decoded (a safetensors header). */
  async decodeUpTo(blob: Blob, limit: number, where: string): Promise<Buffer> {
    if (blob.len > limit)
      throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} is ${blob.len} bytes, over the limit of ${limit}`);
    const stored = await this.readStored(blob, where);
    if (blob.codec === "raw") return stored;
    try {
      return await unbrotli(stored, { maxOutputLength: limit });
    } catch (err) {
      throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} does not decompress within ${limit} bytes`, { cause: err });
    }
  }

  /** A raw blob shorter than `below` bytes (a bsdiff patch, kept only when shorter than its window). */
  async readRawBelow(blob: Blob, below: number, where: string): Promise<Buffer> {
    if (blob.codec !== "raw" || blob.len >= below) {
      throw new EdgeError(
        "BUNDLE_CORRUPT",
        `delta: ${where} is a ${blob.codec} blob of ${blob.len} bytes, expected raw below ${below}`,
      );
    }
    return this.readStored(blob, where);
  }

  /** A blob of any size, decoded as a stream; yields exactly `expected` bytes or throws. */
  async *stream(blob: Blob, expected: number, where: string): AsyncIterable<Buffer> {
    checkLength(blob, expected, where);
    if (blob.len === 0) return;
    const start = this.dataStart + blob.at;
    const source = createReadStream(this.path, { start, end: start + blob.len - 1, highWaterMark: IO_CHUNK });
    let decoded: AsyncIterable<Buffer> = source;
    if (blob.codec === "brotli") {
      const decompress = createBrotliDecompress({ chunkSize: IO_CHUNK });
      source.on("error", (err) => decompress.destroy(err));
      source.pipe(decompress);
      decoded = decompress;
    }
    let produced = 0;
    try {
      for await (const chunk of decoded) {
        produced += chunk.length;
        if (produced > expected) throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} decodes to more than ${expected} bytes`);
        yield chunk;
      }
    } catch (err) {
      if (err instanceof EdgeError) throw err;
      throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} cannot be decoded: ${(err as Error).message}`, { cause: err });
    } finally {
      source.destroy();
    }
    if (produced !== expected)
      throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} decodes to ${produced} bytes, expected ${expected}`);
  }

  private async readStored(blob: Blob, where: string): Promise<Buffer> {
    const stored = Buffer.alloc(blob.len);
    let done = 0;
    while (done < stored.length) {
      const { bytesRead } = await this.handle.read(stored, done, stored.length - done, this.dataStart + blob.at + done);
      if (bytesRead === 0) throw new EdgeError("BUNDLE_TRUNCATED", `delta: ${where} runs past the end of the file`);
      done += bytesRead;
    }
    return stored;
  }
}

function checkLength(blob: Blob, expected: number, where: string): void {
  const ok = blob.codec === "raw" ? blob.len === expected : blob.len > 0 && blob.len < expected;
  if (!ok)
    throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} is a ${blob.codec} blob of ${blob.len} bytes for ${expected} bytes`);
}
