import { chmod, mkdir, open } from "node:fs/promises";
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

  constructor(readonly root: string) {}

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

  /** Streams one payload file to disk, hashing as it writes, and fsyncs it. */
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
    try {
      await handle.chmod(file.mode);
      const check = new EntryCheck(file, entryName);
      for await (const chunk of source) {
        check.add(chunk);
        let written = 0;
        while (written < chunk.length) {
          written += (await handle.write(chunk, written, chunk.length - written)).bytesWritten;
        }
        onBytes(chunk.length);
      }
      check.finish();
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** fsyncs every folder, deepest first and the root last, so every new name is durable. */
  async syncDirs(): Promise<void> {
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
