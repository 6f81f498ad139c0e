import { randomBytes } from "node:crypto";
import { constants, createWriteStream } from "node:fs";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { type Pack, pack as tarPack } from "tar-stream";
import { FIXED_MTIME, MANIFEST_ENTRY, PAYLOAD_PREFIX, payloadEntryName, SUMS_ENTRY } from "../shared/bundle-format.js";
import { canonicalJson } from "../shared/canonical-json.js";
import { type FileDigest, formatSha256Sums, HashingStream, IO_CHUNK } from "../shared/digest.js";
import { EdgeError } from "../shared/errors.js";
import { fsyncDir, fsyncFile } from "../shared/fs-atomic.js";
import type { PayloadManifest } from "../shared/manifest.js";
import type { SignedEnvelope } from "../shared/signature.js";
import { fileStamp, type ModelFile } from "./model-dir.js";

export const DEFAULT_GZIP_LEVEL = 1;

export interface WriteBundleOptions {
  destPath: string;
  manifest: SignedEnvelope<PayloadManifest>;
  /** The files the manifest lists, in the same order, as walked from the model folder. */
  files: ModelFile[];
  gzipLevel?: number;
  onBytes?: (n: number) => void;
}

type Sink = ReturnType<Pack["entry"]>;

/** Every header field fixed, so the bytes depend only on names, modes and content. */
function header(name: string, type: "file" | "directory", mode: number, size: number) {
  return { name, type, mode, size, mtime: FIXED_MTIME, uid: 0, gid: 0, uname: "", gname: "" };
}

function addBuffer(pack: Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header(name, "file", 0o644, data.length), data, (err) => (err ? reject(err) : resolve()));
  });
}

function addDirectory(pack: Pack, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header(name, "directory", 0o755, 0), (err) => (err ? reject(err) : resolve()));
  });
}

/** Resolves when the sink can take more, rejects if it fails or closes first. */
function drained(sink: Sink): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      sink.off("drain", onDrain);
      sink.off("error", onError);
      sink.off("close", onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error("tar entry closed while writing"));
    };
    sink.on("drain", onDrain);
    sink.on("error", onError);
    sink.on("close", onClose);
  });
}

function changed(file: ModelFile, detail: string): EdgeError {
  return new EdgeError("MODEL_DIR_INVALID", `${file.absPath} changed while the bundle was being built (${detail}); build again`);
}

/**
 * Streams one model file into its tar entry with 1 MiB reads. The file must be
 * the one hashed in pass 1 (same inode, size and times, checked before and after
 * reading), or the signed manifest would describe bytes the bundle does not hold.
 */
async function addModelFile(pack: Pack, file: ModelFile, onBytes?: (n: number) => void): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(file.absPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (cause) {
    throw changed(file, (cause as NodeJS.ErrnoException).code ?? "cannot open");
  }
  try {
    if (fileStamp(await handle.stat()) !== file.stamp) throw changed(file, "replaced or modified after hashing");
    let finish: (err?: Error | null) => void = () => undefined;
    const entryDone = new Promise<void>((resolve, reject) => {
      finish = (err) => (err ? reject(err) : resolve());
    });
    entryDone.catch(() => undefined);
    const sink = pack.entry(header(payloadEntryName(file.path), "file", file.mode, file.size), (err) => finish(err));
    let written = 0;
    for await (const chunk of handle.createReadStream({ highWaterMark: IO_CHUNK, autoClose: false })) {
      const buf = chunk as Buffer;
      written += buf.length;
      if (written > file.size) throw changed(file, `grew past ${file.size} bytes`);
      if (!sink.write(buf)) await drained(sink);
      onBytes?.(buf.length);
    }
    if (written !== file.size) throw changed(file, `${written} bytes read, ${file.size} expected`);
    if (fileStamp(await handle.stat()) !== file.stamp) throw changed(file, "modified while being packed");
    sink.end(undefined);
    await entryDone;
  } finally {
    await handle.close();
  }
}

async function addEntries(pack: Pack, opts: WriteBundleOptions): Promise<void> {
  const listed = opts.manifest.signed.files;
  if (listed.length !== opts.files.length || listed.some((f, i) => f.path !== opts.files[i]?.path)) {
    throw new EdgeError("INTERNAL", "bundle writer: the manifest's files and the model files differ");
  }
  await addBuffer(pack, MANIFEST_ENTRY, Buffer.from(canonicalJson(opts.manifest), "utf8"));
  const sums = formatSha256Sums(listed.map((f) => ({ path: payloadEntryName(f.path), sha256: f.sha256 })));
  await addBuffer(pack, SUMS_ENTRY, Buffer.from(sums, "utf8"));
  await addDirectory(pack, PAYLOAD_PREFIX);
  const made = new Set<string>();
  for (const file of opts.files) {
    const parts = file.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = `${parts.slice(0, i).join("/")}/`;
      if (made.has(dir)) continue;
      made.add(dir);
      await addDirectory(pack, payloadEntryName(dir));
    }
    await addModelFile(pack, file, opts.onBytes);
  }
  pack.finalize();
}

/**
 * Writes the bundle (see shared/bundle-format.ts) to a temporary file beside
 * `destPath`, hashing the compressed bytes on their way to disk, then renames it
 * into place and fsyncs the folder. Memory stays at a few MiB whatever the model size.
 */
export async function writeBundle(opts: WriteBundleOptions): Promise<FileDigest> {
  const level = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new EdgeError("USAGE", `gzip level must be an integer from 0 to 9 (found ${level})`);
  }
  const tmp = join(dirname(opts.destPath), `.${basename(opts.destPath)}.${randomBytes(6).toString("hex")}.tmp`);
  const pack = tarPack();
  const hashing = new HashingStream();
  try {
    const piped = pipeline(
      pack,
      createGzip({ level, chunkSize: 64 * 1024 }),
      hashing,
      createWriteStream(tmp, { flags: "wx", mode: 0o644, highWaterMark: IO_CHUNK }),
    );
    piped.catch(() => undefined);
    try {
      await addEntries(pack, opts);
    } catch (err) {
      pack.destroy(err as Error);
      await piped.catch(() => undefined);
      throw err;
    }
    await piped;
    await fsyncFile(tmp);
    await rename(tmp, opts.destPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(opts.destPath));
  return { sha256: hashing.hash.digest("hex"), size: hashing.bytes };
}
