import { createHash, type Hash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { IO_CHUNK } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";

/**
 * How much a power cut may cost: an fsync of the part file starts every this
 * many bytes, and the next one waits for it (so at most twice this is lost).
 */
export const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Where every accepted byte also goes, in file order (the extraction that runs
 * while the bundle downloads): `reset` whenever the file starts again from its
 * first byte, then `write` with each chunk; a slow consumer slows the download.
 */
export interface ByteTee {
  reset(): Promise<void>;
  write(chunk: Buffer): Promise<void>;
}

/**
 * The `.part` file of a download: appends in 1 MiB writes, hashing each write
 * (SHA-256 is twice as fast on 1 MiB as on a socket's 64 KiB pieces) and
 * handing it to the tee while the disk write runs (no second pass over the
 * file), and fsyncs every 64 MiB without stopping the download for it. The
 * hash covers exactly the bytes written, which `flush` makes all accepted.
 */
export class PartWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private sinceSync = 0;
  /** The fsync under way, if any. */
  private syncing: Promise<void> | undefined;
  private hash: Hash;
  /** Bytes accepted so far: on disk plus pending. */
  offset: number;

  private constructor(
    private readonly handle: FileHandle,
    hash: Hash,
    offset: number,
    private readonly tee: ByteTee | undefined,
  ) {
    this.hash = hash;
    this.offset = offset;
  }

  /**
   * Opens (or creates) the part file; a file longer than `maxSize` cannot be ours and is emptied.
   * What an earlier run kept is hashed again and, with a `tee`, replayed into it from the first byte.
   */
  static async open(path: string, maxSize: number, tee?: ByteTee): Promise<PartWriter> {
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
      await tee?.reset();
      if (size > 0) {
        for await (const chunk of createReadStream(path, { start: 0, end: size - 1, highWaterMark: IO_CHUNK })) {
          hash.update(chunk as Buffer);
          await tee?.write(chunk as Buffer);
        }
      }
      return new PartWriter(handle, hash, size, tee);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async append(chunk: Buffer): Promise<void> {
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
    this.hash.update(data);
    await Promise.all([this.writeAll(data), this.tee?.write(data)]);
    this.sinceSync += data.length;
    if (this.sinceSync >= SYNC_EVERY_BYTES) {
      await this.syncing;
      this.sinceSync = 0;
      const started = this.handle.sync();
      started.catch(() => undefined); // handled: the next await of `syncing` sees the failure
      this.syncing = started;
    }
  }

  async sync(): Promise<void> {
    await this.flush();
    await this.syncing;
    this.syncing = undefined;
    await this.handle.sync();
    this.sinceSync = 0;
  }

  private async writeAll(data: Buffer): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written);
      written += bytesWritten;
    }
  }

  /** Starts over from an empty file. */
  async truncate(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    await this.handle.truncate(0);
    this.hash = createHash("sha256");
    this.offset = 0;
    await this.tee?.reset();
  }

  /** The digest of everything accepted; call once, after the last append. */
  digest(): string {
    return this.hash.digest("hex");
  }

  async close(): Promise<void> {
    // A background fsync's failure changes nothing now: close must not throw for it.
    await this.syncing?.catch(() => undefined);
    await this.handle.close();
  }
}
