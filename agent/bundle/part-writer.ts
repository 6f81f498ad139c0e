import { createHash, type Hash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { IO_CHUNK } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";

/** How much a power cut may cost: the part file is fsynced at least this often. */
export const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * The `.part` file of a download: appends in 1 MiB writes, hashes every byte as it
 * is accepted (no second pass over the file), and fsyncs every 64 MiB. The hash
 * always covers exactly the bytes that are, or will be after `flush`, on disk.
 */
export class PartWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private sinceSync = 0;
  private hash: Hash;
  /** Bytes accepted so far: on disk plus pending. */
  offset: number;

  private constructor(
    private readonly handle: FileHandle,
    hash: Hash,
    offset: number,
  ) {
    this.hash = hash;
    this.offset = offset;
  }

  /** Opens (or creates) the part file; a file longer than `maxSize` cannot be ours and is emptied. */
  static async open(path: string, maxSize: number): Promise<PartWriter> {
    // O_NOFOLLOW: a symlink planted where the part file goes is refused (ELOOP), never followed out of the data folder.
    const handle = await open(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o644,
    ).catch((cause: NodeJS.ErrnoException) => {
      if (cause.code !== "ELOOP") throw cause;
      throw new EdgeError("PATH_UNSAFE", `${path} is a symlink; downloads are written only to the agent's own files`, { cause });
    });
    try {
      let size = (await handle.stat()).size;
      if (size > maxSize) {
        await handle.truncate(0);
        size = 0;
      }
      const hash = createHash("sha256");
      if (size > 0) {
        for await (const chunk of createReadStream(path, { start: 0, end: size - 1, highWaterMark: IO_CHUNK })) {
          hash.update(chunk as Buffer);
        }
      }
      return new PartWriter(handle, hash, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async append(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.offset += chunk.length;
    if (this.pendingBytes >= IO_CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written);
      written += bytesWritten;
    }
    this.sinceSync += data.length;
    if (this.sinceSync >= SYNC_EVERY_BYTES) await this.sync();
  }

  async sync(): Promise<void> {
    await this.flush();
    await this.handle.sync();
    this.sinceSync = 0;
  }

  /** Starts over from an empty file. */
  async truncate(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    await this.handle.truncate(0);
    this.hash = createHash("sha256");
    this.offset = 0;
  }

  /** The digest of everything accepted; call once, after the last append. */
  digest(): string {
    return this.hash.digest("hex");
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
