import { createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { promisify } from "node:util";
import { brotliCompress, constants, createBrotliCompress } from "node:zlib";
import { type Blob, BROTLI_QUALITY, brotliQualityFor, type SizedBlob } from "../../shared/delta-format.js";
import { IO_CHUNK } from "../../shared/digest.js";

const brotli = promisify(brotliCompress);

function brotliParams(sizeHint: number, quality = BROTLI_QUALITY): Record<number, number> {
  return {
    [constants.BROTLI_PARAM_QUALITY]: quality,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_GENERIC,
    [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint,
  };
}

/** Bytes ready to append: brotli at the quality for their size when that is shorter, raw otherwise. */
export interface Packed {
  stored: Buffer;
  codec: Blob["codec"];
  size: number;
}

export async function pack(bytes: Buffer): Promise<Packed> {
  if (bytes.length === 0) return { stored: bytes, codec: "raw", size: 0 };
  const packed = await brotli(bytes, { params: brotliParams(bytes.length, brotliQualityFor(bytes.length)) });
  return packed.length < bytes.length
    ? { stored: packed, codec: "brotli", size: bytes.length }
    : { stored: bytes, codec: "raw", size: bytes.length };
}

/**
 * The data section under construction, in its own file: blobs are appended in
 * the order the header names them, so offsets (and the delta) are deterministic.
 * rewind() drops what was appended after a mark when a cheaper encoding wins.
 */
export class DataSink {
  private constructor(
    private readonly handle: FileHandle,
    private end: number,
  ) {}

  static async create(path: string): Promise<DataSink> {
    return new DataSink(await open(path, "wx+"), 0);
  }

  get length(): number {
    return this.end;
  }

  async appendRaw(bytes: Buffer): Promise<Blob> {
    const at = this.end;
    await this.write(bytes);
    return { at, len: bytes.length, codec: "raw" };
  }

  async appendPacked(packed: Packed): Promise<SizedBlob> {
    const at = this.end;
    await this.write(packed.stored);
    return { at, len: packed.stored.length, codec: packed.codec, size: packed.size };
  }

  /** Brotli when it is shorter, raw otherwise. */
  async appendBest(bytes: Buffer): Promise<Blob> {
    if (bytes.length === 0) return this.appendRaw(bytes);
    const packed = await brotli(bytes, { params: brotliParams(bytes.length) });
    if (packed.length >= bytes.length) return this.appendRaw(bytes);
    const at = this.end;
    await this.write(packed);
    return { at, len: packed.length, codec: "brotli" };
  }

  /** The size appendBest would take, without appending. */
  async bestSize(bytes: Buffer): Promise<number> {
    if (bytes.length === 0) return 0;
    const packed = await brotli(bytes, { params: brotliParams(bytes.length) });
    return Math.min(packed.length, bytes.length);
  }

  /** A whole file, streamed through brotli; raw again if that saved nothing. */
  async appendFile(path: string, size: number): Promise<Blob> {
    const at = this.end;
    if (size === 0) return { at, len: 0, codec: "raw" };
    const compressor = createBrotliCompress({ params: brotliParams(size), chunkSize: IO_CHUNK });
    const source = createReadStream(path, { highWaterMark: IO_CHUNK });
    source.on("error", (err) => compressor.destroy(err));
    source.pipe(compressor);
    for await (const chunk of compressor) await this.write(chunk as Buffer);
    if (this.end - at < size) return { at, len: this.end - at, codec: "brotli" };
    await this.rewind(at);
    for await (const chunk of createReadStream(path, { highWaterMark: IO_CHUNK })) await this.write(chunk as Buffer);
    return { at, len: this.end - at, codec: "raw" };
  }

  async rewind(to: number): Promise<void> {
    await this.handle.truncate(to);
    this.end = to;
  }

  /** Streams the data section, for copying it behind the header. */
  async *read(): AsyncIterable<Buffer> {
    const buf = Buffer.alloc(IO_CHUNK);
    for (let pos = 0; pos < this.end; ) {
      const { bytesRead } = await this.handle.read(buf, 0, Math.min(buf.length, this.end - pos), pos);
      if (bytesRead === 0) throw new Error(`delta data file ended at ${pos} of ${this.end}`);
      yield buf.subarray(0, bytesRead);
      pos += bytesRead;
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  private async write(bytes: Buffer): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, this.end + done);
      done += bytesWritten;
    }
    this.end += bytes.length;
  }
}
