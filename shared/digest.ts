import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";

/** 1 MiB reads: Node hashes a large file twice as fast as with the default 64 KiB. */
export const IO_CHUNK = 1024 * 1024;

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface FileDigest {
  sha256: string;
  size: number;
}

export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<FileDigest> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: IO_CHUNK })) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
    onBytes?.(buf.length);
  }
  return { sha256: hash.digest("hex"), size };
}

/** A pass-through stream that hashes and counts what flows through it. */
export class HashingStream extends Transform {
  readonly hash: Hash;
  bytes = 0;

  constructor(hash: Hash = createHash("sha256")) {
    super();
    this.hash = hash;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/** Hashes a stream to its end. */
export async function sha256Stream(source: AsyncIterable<Buffer>): Promise<FileDigest> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

export interface Sha256SumsEntry {
  path: string;
  sha256: string;
}

/** GNU coreutils format, binary mode marker off: `<hex>  <path>\n`, sorted by path. */
export function formatSha256Sums(entries: Sha256SumsEntry[]): string {
  return [...entries]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((e) => `${e.sha256}  ${e.path}\n`)
    .join("");
}

export function parseSha256Sums(text: string): Sha256SumsEntry[] {
  const entries: Sha256SumsEntry[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line === "") continue;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match) throw new Error(`SHA256SUMS line ${i + 1} is malformed`);
    entries.push({ sha256: match[1] as string, path: match[2] as string });
  }
  return entries;
}
