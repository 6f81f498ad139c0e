import { createHash } from "node:crypto";
import { EdgeError } from "../errors.js";
import type { PayloadFile } from "../manifest.js";

/**
 * Where the bundle reader sends the payload: a staging folder on the device
 * (StagingWriter), or nowhere when only the verdict matters (CheckOnlySink, for
 * `edge-publish verify`). Either way every byte passes an EntryCheck first.
 */
export interface PayloadSink {
  ensureDir(rel: string): Promise<void>;
  writeFile(source: AsyncIterable<Buffer>, file: PayloadFile, entryName: string, onBytes: (n: number) => void): Promise<void>;
  syncDirs(): Promise<void>;
}

/** Counts and hashes one payload entry's bytes against its line in the signed manifest. */
export class EntryCheck {
  private readonly hash = createHash("sha256");
  private size = 0;

  constructor(
    private readonly file: PayloadFile,
    private readonly entryName: string,
  ) {}

  /** Called before a chunk is used: a chunk past the signed size is refused before it is written. */
  add(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.file.size) {
      throw new EdgeError(
        "ENTRY_TOO_LARGE",
        `bundle entry ${JSON.stringify(this.entryName)} holds more than the ${this.file.size} bytes the manifest says`,
      );
    }
    this.hash.update(chunk);
  }

  /** At the end of the entry: the size and the SHA-256 must both be the manifest's. */
  finish(): void {
    if (this.size < this.file.size) {
      throw new EdgeError(
        "SIZE_MISMATCH",
        `bundle entry ${JSON.stringify(this.entryName)} holds ${this.size} bytes, the manifest says ${this.file.size}`,
      );
    }
    const actual = this.hash.digest("hex");
    if (actual !== this.file.sha256) {
      throw new EdgeError(
        "DIGEST_MISMATCH",
        `bundle entry ${JSON.stringify(this.entryName)} has SHA-256 ${actual}, the manifest says ${this.file.sha256}`,
      );
    }
  }
}

/** Checks every payload file and keeps none: a whole bundle verified without the disk space to unpack it. */
export class CheckOnlySink implements PayloadSink {
  async ensureDir(): Promise<void> {}

  async writeFile(
    source: AsyncIterable<Buffer>,
    file: PayloadFile,
    entryName: string,
    onBytes: (n: number) => void,
  ): Promise<void> {
    const check = new EntryCheck(file, entryName);
    for await (const chunk of source) {
      check.add(chunk);
      onBytes(chunk.length);
    }
    check.finish();
  }

  async syncDirs(): Promise<void> {}
}
