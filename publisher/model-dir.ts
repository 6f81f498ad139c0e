import type { Stats } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { sha256File } from "../shared/digest.js";
import { EdgeError } from "../shared/errors.js";
import type { PayloadFile } from "../shared/manifest.js";
import { unsafePathReason } from "../shared/safe-path.js";

/** A regular file found in the model folder, as it was when the folder was walked. */
export interface ModelFile {
  /** Relative POSIX path inside the model folder. */
  path: string;
  absPath: string;
  size: number;
  mode: 0o644 | 0o755;
  /** What the file looked like when walked, to notice it changing before it is packed. */
  stamp: string;
}

export function fileStamp(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Code-unit order, the order shared/manifest.ts checks (byte order for ASCII paths). */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isBlockDevice() || st.isCharacterDevice()) return "a device";
  if (st.isFIFO()) return "a fifo";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Every regular file under `modelDir`, sorted by relative path. Anything else
 * (links, devices, fifos, sockets) is refused rather than skipped: a bundle that
 * silently lacks a file the model needs would only fail on the device.
 * `exclude` names relative paths that are not part of the model (the watch
 * command's `.complete` marker); they are left out before any check.
 */
export async function walkModelDir(modelDir: string, exclude?: ReadonlySet<string>): Promise<ModelFile[]> {
  let root: Stats;
  try {
    // The folder itself may be reached through a link (models/current -> ...); what is inside may not.
    root = await stat(modelDir);
  } catch (cause) {
    throw new EdgeError("MODEL_DIR_INVALID", `model folder ${modelDir} does not exist or cannot be read`, { cause });
  }
  if (!root.isDirectory()) throw new EdgeError("MODEL_DIR_INVALID", `model folder ${modelDir} is not a folder`);
  const files: ModelFile[] = [];
  const pending: string[] = [""];
  while (pending.length > 0) {
    const rel = pending.pop() as string;
    const dir = rel === "" ? modelDir : join(modelDir, rel);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (cause) {
      throw new EdgeError("MODEL_DIR_INVALID", `cannot list ${dir}: ${(cause as Error).message}`, { cause });
    }
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      if (exclude?.has(path)) continue;
      const absPath = join(modelDir, path);
      const reason = unsafePathReason(path);
      if (reason) throw new EdgeError("MODEL_DIR_INVALID", `${absPath}: the path ${JSON.stringify(path)} ${reason}`);
      const st = await lstat(absPath);
      if (st.isDirectory()) pending.push(path);
      else if (st.isFile()) {
        files.push({ path, absPath, size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644, stamp: fileStamp(st) });
      } else {
        throw new EdgeError(
          "MODEL_DIR_INVALID",
          `${absPath} is ${kindOf(st)}; a model folder may hold only regular files and folders`,
        );
      }
    }
  }
  if (files.length === 0) throw new EdgeError("MODEL_DIR_INVALID", `model folder ${modelDir} holds no files`);
  return files.sort((a, b) => comparePaths(a.path, b.path));
}

/** Pass 1: the SHA-256 of every file, in order, reporting bytes read as they go. */
export async function hashModelFiles(files: ModelFile[], onBytes?: (n: number) => void): Promise<PayloadFile[]> {
  const out: PayloadFile[] = [];
  for (const f of files) {
    const digest = await sha256File(f.absPath, onBytes);
    if (digest.size !== f.size) {
      throw new EdgeError(
        "MODEL_DIR_INVALID",
        `${f.absPath} changed size while being read (${f.size} then ${digest.size} bytes)`,
      );
    }
    out.push({ path: f.path, size: f.size, sha256: digest.sha256, mode: f.mode });
  }
  return out;
}
