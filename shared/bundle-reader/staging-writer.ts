import { chmod, type FileHandle, mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError } from "../errors.js";
import { fsyncDir } from "../fs-atomic.js";
import type { PayloadFile } from "../manifest.js";
import { EntryCheck, type PayloadSink } from "./payload-sink.js";

/**
 * Writes into a staging folder the extractor created itself and fills only with
 * regular files and folders: since no link can ever exist inside it, a path
 * joined under it cannot lead outside. Files are opened O_EXCL ("wx") anyway, so
 * nothing is followed or overwritten even if that reasoning were wrong.
 */
export class StagingWriter implements PayloadSink {
  /** Folders made so far, relative to the root; "" is the root itself. */
  private readonly made = new Set<string>([""]);
  /** With deferSync: the files written and not yet fsynced, with their sizes. */
  private readonly unsynced: { path: string; size: number }[] = [];
  private readonly deferSync: boolean;

  /**
   * `deferSync`: files are closed without an fsync each and syncDirs does
   * nothing; syncDeferred makes all of them durable at the end (one fsync per
   * file, while the disk has already written most of it back, instead of a
   * stall after every file).
   */
  constructor(
    readonly root: string,
    opts: { deferSync?: boolean } = {},
  ) {
    this.deferSync = opts.deferSync ?? false;
  }

  /** Creates `rel` and its parents inside the root, mode 0755. */
  async ensureDir(rel: string): Promise<void> {
    if (this.made.has(rel)) return;
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      if (this.made.has(prefix)) continue;
      const dir = join(this.root, prefix);
      await mkdir(dir, { mode: 0o755 }).catch((err: unknown) => {
        throw nameTooLong(err, prefix);
      });
      await chmod(dir, 0o755); // the umask must not decide the mode
      this.made.add(prefix);
    }
  }

  /** Streams one payload file to disk, hashing as it writes, and fsyncs it (or leaves that to syncDeferred). */
  async writeFile(
    source: AsyncIterable<Buffer>,
    file: PayloadFile,
    entryName: string,
    onBytes: (n: number) => void,
  ): Promise<void> {
    const slash = file.path.lastIndexOf("/");
    await this.ensureDir(slash < 0 ? "" : file.path.slice(0, slash));
    const handle = await open(join(this.root, file.path), "wx", file.mode).catch((err: unknown) => {
      throw nameTooLong(err, file.path);
    });
    // One write in flight while the next chunk is read and hashed: the disk and the hashing overlap.
    let inFlight: Promise<void> = Promise.resolve();
    try {
      await handle.chmod(file.mode);
      const check = new EntryCheck(file, entryName);
      let position = 0;
      for await (const chunk of source) {
        check.add(chunk);
        const previous = inFlight;
        inFlight = writeAt(handle, chunk, position);
        inFlight.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        position += chunk.length;
        await previous;
        onBytes(chunk.length);
      }
      await inFlight;
      check.finish();
      if (this.deferSync) this.unsynced.push({ path: join(this.root, file.path), size: file.size });
      else await handle.sync();
    } finally {
      await inFlight.catch(() => undefined);
      await handle.close();
    }
  }

  /** fsyncs every folder, deepest first and the root last, so every new name is durable. */
  async syncDirs(): Promise<void> {
    if (!this.deferSync) await this.syncAllDirs();
  }

  /** With deferSync: fsyncs every file written, then every folder; `onBytes` counts the file bytes made durable. */
  async syncDeferred(onBytes: (n: number) => void): Promise<void> {
    for (const file of this.unsynced.splice(0)) {
      const handle = await open(file.path, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      onBytes(file.size);
    }
    await this.syncAllDirs();
  }

  private async syncAllDirs(): Promise<void> {
    const dirs = [...this.made].sort((a, b) => depth(b) - depth(a));
    for (const rel of dirs) await fsyncDir(rel === "" ? this.root : join(this.root, rel));
  }
}

/**
 * A path the manifest may name (segments of at most 255 bytes, 4096 characters
 * in all) can still be too long once joined under the data folder (PATH_MAX).
 */
export function nameTooLong(err: unknown, rel: string): unknown {
  if ((err as NodeJS.ErrnoException)?.code !== "ENAMETOOLONG") return err;
  return new EdgeError("PATH_UNSAFE", `payload path ${JSON.stringify(rel.slice(0, 200))} is too long for this filesystem`, {
    cause: err,
  });
}

async function writeAt(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    written += (await handle.write(chunk, written, chunk.length - written, position + written)).bytesWritten;
  }
}

function depth(rel: string): number {
  return rel === "" ? 0 : rel.split("/").length;
}

/** Reads a small entry into memory, refusing more than `max` bytes whatever its header said. */
export async function readSmallEntry(source: AsyncIterable<Buffer>, max: number, entryName: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > max) throw new EdgeError("ENTRY_TOO_LARGE", `bundle entry ${JSON.stringify(entryName)} exceeds ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString("utf8");
}

/** Consumes an entry's body (folders have none, but the stream must still end). */
export async function drainEntry(source: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of source) {
    // nothing to keep
  }
}
