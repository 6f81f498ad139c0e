import { createHash, type Hash } from "node:crypto";
import { type FileHandle, mkdir, open, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { nameTooLong } from "../../shared/bundle-reader/staging-writer.js";
import { EdgeError } from "../../shared/errors.js";
import type { PayloadFile } from "../../shared/manifest.js";

/** A rebuilt file, written once in order (O_EXCL) and hashed as it is written. */
export class OutputFile {
  private readonly hash: Hash = createHash("sha256");
  private bytes = 0;

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly expected: PayloadFile,
    private readonly onWritten?: (n: number) => void,
  ) {}

  static async create(path: string, expected: PayloadFile, onWritten?: (n: number) => void): Promise<OutputFile> {
    try {
      await mkdir(dirname(path), { recursive: true });
      return new OutputFile(path, await open(path, "wx", expected.mode), expected, onWritten);
    } catch (err) {
      throw nameTooLong(err, expected.path);
    }
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.bytes + chunk.length > this.expected.size) {
      throw new EdgeError("SIZE_MISMATCH", `delta: ${this.expected.path} grows past its ${this.expected.size} bytes`);
    }
    this.hash.update(chunk);
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, done, chunk.length - done, this.bytes + done);
      done += bytesWritten;
    }
    this.bytes += chunk.length;
    this.onWritten?.(chunk.length);
  }

  /** Checks size and SHA-256 against the target manifest, then makes the file durable with the manifest's mode. */
  async finish(): Promise<void> {
    const { path, size, sha256, mode } = this.expected;
    if (this.bytes !== size)
      throw new EdgeError("SIZE_MISMATCH", `delta: rebuilt ${path} has ${this.bytes} bytes, expected ${size}`);
    const found = this.hash.digest("hex");
    if (found !== sha256)
      throw new EdgeError("DIGEST_MISMATCH", `delta: rebuilt ${path} has SHA-256 ${found}, expected ${sha256}`);
    // The umask may have narrowed the mode given to open().
    await this.handle.chmod(mode);
    await this.handle.sync();
    await this.handle.close();
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => {});
    await rm(this.path, { force: true });
  }
}
