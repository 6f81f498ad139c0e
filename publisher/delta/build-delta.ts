import { createHash } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW_BYTES,
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  type DeltaFile,
  type DeltaOp,
  encodeDeltaPrefix,
} from "../../shared/delta-format.js";
import { EdgeError } from "../../shared/errors.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { readSafetensorsHeader, type SafetensorsLayout } from "../../shared/safetensors-header.js";
import { DataSink } from "./data-sink.js";
import { encodeTensors } from "./tensor-encoder.js";
import { encodeWindows } from "./window-encoder.js";

export interface BuildDeltaOptions {
  baseDir: string;
  targetDir: string;
  baseFiles: PayloadFile[];
  targetFiles: PayloadFile[];
  outPath: string;
  baseVersion?: string;
  targetVersion?: string;
  /** Generic-file window (default 16 MiB): the publisher needs about 17x this (bsdiff), the device at most 3x. */
  windowBytes?: number;
  /** Tensor chunk (default 4 MiB), a multiple of 8. */
  chunkBytes?: number;
  /** Where window temp files go (default os.tmpdir()). */
  tempDir?: string;
  /** Target bytes encoded so far, for a progress bar (a file may be read twice when its patch is not worth it). */
  onBytes?: (n: number) => void;
}

export interface DeltaFileReport {
  path: string;
  op: DeltaOp;
  size: number;
  /** Bytes this file takes in the data section. */
  deltaBytes: number;
}

export interface BuildDeltaResult {
  size: number;
  sha256: string;
  perFile: DeltaFileReport[];
}

/** Writes a delta turning the base payload into the target payload (format: shared/delta-format.ts). */
export async function buildDelta(opts: BuildDeltaOptions): Promise<BuildDeltaResult> {
  const windowBytes = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const work = await mkdtemp(join(opts.tempDir ?? tmpdir(), "edgepull-delta-"));
  const sink = await DataSink.create(join(work, "data"));
  try {
    const baseByPath = new Map(opts.baseFiles.map((f) => [f.path, f]));
    const files: DeltaFile[] = [];
    const perFile: DeltaFileReport[] = [];
    const targets = [...opts.targetFiles].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const file of targets) {
      const mark = sink.length;
      const entry = await encodeFile(file, baseByPath.get(file.path), { ...opts, windowBytes, chunkBytes, sink, work });
      files.push(entry);
      perFile.push({ path: file.path, op: entry.op, size: file.size, deltaBytes: sink.length - mark });
    }
    const prefix = await encodeDeltaPrefix({
      format: DELTA_FORMAT,
      formatVersion: DELTA_FORMAT_VERSION,
      baseVersion: opts.baseVersion ?? "",
      targetVersion: opts.targetVersion ?? "",
      windowBytes,
      chunkBytes,
      dataLength: sink.length,
      files,
    });
    const hash = createHash("sha256");
    const out = await open(opts.outPath, "w", 0o644);
    try {
      hash.update(prefix);
      await out.write(prefix);
      for await (const chunk of sink.read()) {
        hash.update(chunk);
        await out.write(chunk);
      }
      await out.sync();
    } finally {
      await out.close();
    }
    return { size: prefix.length + sink.length, sha256: hash.digest("hex"), perFile };
  } finally {
    await sink.close();
    await rm(work, { recursive: true, force: true });
  }
}

type EncodeContext = BuildDeltaOptions & { windowBytes: number; chunkBytes: number; sink: DataSink; work: string };

async function encodeFile(file: PayloadFile, base: PayloadFile | undefined, ctx: EncodeContext): Promise<DeltaFile> {
  const { path, size, sha256 } = file;
  // Target sizes and digests are the signed manifest's: the header names only paths and how to rebuild them.
  const targetPath = join(ctx.targetDir, path);
  if (base && base.sha256 === sha256 && base.size === size) {
    ctx.onBytes?.(size);
    return { path, op: "same" };
  }
  if (!base) {
    const data = await ctx.sink.appendFile(targetPath, size);
    ctx.onBytes?.(size);
    return { path, op: "full", data };
  }
  const baseRef = { size: base.size, sha256: base.sha256 };
  const mark = ctx.sink.length;
  const [baseHandle, targetHandle] = [await open(join(ctx.baseDir, path), "r"), await open(targetPath, "r")];
  try {
    if (path.endsWith(".safetensors")) {
      const [baseHeader, targetHeader] = [await tryHeader(baseHandle, base.size), await tryHeader(targetHandle, size)];
      if (baseHeader && targetHeader) {
        const header = await ctx.sink.appendBest(targetHeader.bytes);
        const tensors = await encodeTensors({
          base: baseHandle,
          baseLayout: baseHeader.layout,
          target: targetHandle,
          targetLayout: targetHeader.layout,
          chunkBytes: ctx.chunkBytes,
          sink: ctx.sink,
          label: path,
          onBytes: ctx.onBytes,
        });
        // Every tensor in full (a new dtype, new names): the base helps nothing, so ship the plain file.
        if (tensors.some((t) => t.op !== "full")) return { path, op: "tensors", base: baseRef, header, tensors };
        await ctx.sink.rewind(mark);
        return { path, op: "full", data: await ctx.sink.appendFile(targetPath, size) };
      }
    }
    const encoded = await encodeWindows({
      base: baseHandle,
      baseSize: base.size,
      target: targetHandle,
      targetSize: size,
      windowBytes: ctx.windowBytes,
      sink: ctx.sink,
      tempDir: ctx.work,
      label: path,
      onBytes: ctx.onBytes,
    });
    if (encoded.bytes < encoded.fullEstimate) return { path, op: "windows", base: baseRef, windows: encoded.windows };
    // The patch saves nothing over the compressed file: ship the file.
    await ctx.sink.rewind(mark);
    return { path, op: "full", data: await ctx.sink.appendFile(targetPath, size) };
  } catch (err) {
    throw new EdgeError("INTERNAL", `delta for ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await Promise.all([baseHandle.close(), targetHandle.close()]);
  }
}

async function tryHeader(
  handle: Awaited<ReturnType<typeof open>>,
  size: number,
): Promise<{ layout: SafetensorsLayout; bytes: Buffer } | undefined> {
  try {
    return await readSafetensorsHeader(handle, size);
  } catch {
    // Not a valid safetensors file after all: it is diffed as bytes instead.
    return undefined;
  }
}
