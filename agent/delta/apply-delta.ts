import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import type { BaseRef, DeltaFile } from "../../shared/delta-format.js";
import { IO_CHUNK, sha256File } from "../../shared/digest.js";
import { EdgeError, isEdgeError } from "../../shared/errors.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { unsafePathReason } from "../../shared/safe-path.js";
import { DeltaBlobs } from "./delta-blobs.js";
import { OutputFile } from "./output-file.js";
import { readDeltaHeader } from "./read-delta-header.js";
import { rebuildTensors } from "./rebuild-tensors.js";
import { rebuildWindows } from "./rebuild-windows.js";

export interface ApplyDeltaOptions {
  deltaPath: string;
  /** The active version's folder: only read. */
  baseDir: string;
  /** Where the target files are created (O_EXCL): a fresh staging folder. */
  destDir: string;
  /** The target manifest's files: the delta must rebuild exactly these. */
  expectedFiles: PayloadFile[];
  signal?: AbortSignal;
  /** For bspatch's window files (default os.tmpdir()); the agent keeps it inside its data folder. */
  tempDir?: string;
  /** Rebuilt bytes written so far, across all files. */
  onProgress?: (bytes: number) => void;
}

export interface ApplyDeltaResult {
  files: number;
  bytes: number;
}

/**
 * Rebuilds every target file from the base folder and the delta, each checked
 * against the target manifest's size and SHA-256. Throws an EdgeError on any
 * inconsistency; what was written to destDir is then for the caller to discard.
 */
export async function applyDelta(opts: ApplyDeltaOptions): Promise<ApplyDeltaResult> {
  const checkpoint = () => {
    if (opts.signal?.aborted) throw new EdgeError("INTERRUPTED", "delta: applying was cancelled", { cause: opts.signal.reason });
  };
  const handle = await open(opts.deltaPath, "r");
  const tempDir = await mkdtemp(join(opts.tempDir ?? tmpdir(), "edgepull-patch-"));
  try {
    const { size } = await handle.stat();
    const { header, dataStart } = await readDeltaHeader(handle, size);
    const expected = matchExpected(header.files, opts.expectedFiles);
    const blobs = new DeltaBlobs(opts.deltaPath, handle, dataStart);
    let bytes = 0;
    let written = 0;
    const onWritten = opts.onProgress
      ? (n: number) => {
          written += n;
          opts.onProgress?.(written);
        }
      : undefined;
    for (const file of header.files) {
      checkpoint();
      const target = expected.get(file.path) as PayloadFile;
      const out = await OutputFile.create(insideDest(opts.destDir, file.path), target, onWritten);
      try {
        await rebuildFile(
          { ...file, size: target.size },
          {
            ...opts,
            blobs,
            out,
            tempDir,
            checkpoint,
            windowBytes: header.windowBytes,
            chunkBytes: header.chunkBytes,
          },
        );
        await out.finish();
      } catch (err) {
        await out.discard();
        throw file.op === "same" && isEdgeError(err) && err.code === "DIGEST_MISMATCH" ? sameBaseMismatch(file.path, err) : err;
      }
      bytes += target.size;
    }
    return { files: header.files.length, bytes };
  } finally {
    await handle.close();
    await rm(tempDir, { recursive: true, force: true });
  }
}

interface RebuildContext extends ApplyDeltaOptions {
  blobs: DeltaBlobs;
  out: OutputFile;
  tempDir: string;
  checkpoint: () => void;
  windowBytes: number;
  chunkBytes: number;
}

/** A header entry with the target's size from the signed manifest. */
export type SizedDeltaFile = DeltaFile & { size: number };

async function rebuildFile(file: SizedDeltaFile, ctx: RebuildContext): Promise<void> {
  const basePath = join(ctx.baseDir, file.path);
  const { blobs, out, checkpoint } = ctx;
  switch (file.op) {
    case "full":
      for await (const chunk of blobs.stream(file.data, file.size, `${file.path} data`)) {
        checkpoint();
        await out.write(chunk);
      }
      return;
    case "same":
      // Hashed once, while copying: the rebuilt file's check is the base check.
      try {
        for await (const chunk of createReadStream(basePath, { highWaterMark: IO_CHUNK })) {
          checkpoint();
          await out.write(chunk as Buffer);
        }
      } catch (err) {
        throw isEdgeError(err) && err.code === "INTERRUPTED" ? err : sameBaseMismatch(file.path, err);
      }
      return;
    case "windows":
    case "tensors": {
      await verifyBase(basePath, file.path, file.base);
      const base = await open(basePath, "r");
      try {
        if (file.op === "windows")
          await rebuildWindows({ file, base, blobs, out, checkpoint, tempDir: ctx.tempDir, windowBytes: ctx.windowBytes });
        else await rebuildTensors({ file, base, blobs, out, checkpoint, chunkBytes: ctx.chunkBytes });
      } finally {
        await base.close();
      }
    }
  }
}

/**
 * The base is read at offsets the delta names, so it must be the very file the
 * delta was made from. DELTA_BASE_MISMATCH tells the agent to fetch the bundle.
 */
async function verifyBase(basePath: string, path: string, ref: BaseRef): Promise<void> {
  let found: { sha256: string; size: number };
  try {
    found = await sha256File(basePath);
  } catch (err) {
    throw new EdgeError("DELTA_BASE_MISMATCH", `delta base mismatch: ${path} cannot be read from the active version`, {
      cause: err,
    });
  }
  if (found.size !== ref.size || found.sha256 !== ref.sha256) {
    throw new EdgeError(
      "DELTA_BASE_MISMATCH",
      `delta base mismatch: ${path} in the active version has ${found.size} bytes, SHA-256 ${found.sha256}; the delta was made from ${ref.size} bytes, ${ref.sha256}`,
    );
  }
}

function sameBaseMismatch(path: string, cause: unknown): EdgeError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new EdgeError(
    "DELTA_BASE_MISMATCH",
    `delta base mismatch: ${path} in the active version is not the unchanged file (${detail})`,
    {
      cause,
    },
  );
}

/**
 * The delta must name exactly the manifest's files. Their sizes and digests
 * come from the manifest alone: every rebuilt file is checked against them.
 */
function matchExpected(files: DeltaFile[], expectedFiles: PayloadFile[]): Map<string, PayloadFile> {
  const expected = new Map(expectedFiles.map((f) => [f.path, f]));
  for (const file of files) {
    if (!expected.has(file.path)) throw new EdgeError("ENTRY_UNEXPECTED", `delta: ${file.path} is not in the target manifest`);
  }
  const named = new Set(files.map((f) => f.path));
  const missing = expectedFiles.find((f) => !named.has(f.path));
  if (missing) throw new EdgeError("ENTRY_MISSING", `delta: ${missing.path} from the target manifest is not in the delta`);
  return expected;
}

function insideDest(destDir: string, path: string): string {
  const reason = unsafePathReason(path);
  const root = resolve(destDir);
  const full = resolve(root, path);
  if (reason || !full.startsWith(root + sep))
    throw new EdgeError("PATH_UNSAFE", `delta: ${JSON.stringify(path)} ${reason ?? "leaves the destination"}`);
  return full;
}
