import { lstatSync, readdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { EdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";
import { deltaPartPath, downloadPartPath, finishedDownloadPath, isDownloadFileName, type Layout } from "./layout.js";

/** The one release whose downloads are worth keeping: its bundle and, from `deltaFrom`, its delta. */
export interface WantedDownload {
  name: string;
  version: string;
  deltaFrom?: string | null;
  /** Only the resumable `.part` files: a finished download whose attempt failed is worth nothing. */
  partialOnly?: boolean;
}

export interface DownloadsSweep {
  removedFiles: number;
  removedBytes: number;
  /** Bytes of the regular files left in the folder: the wanted release's and any the agent did not name. */
  keptBytes: number;
  /** Entries left that the agent does not name; never removed, but they count against the folder's cap. */
  foreign: string[];
}

function wantedFileNames(layout: Layout, wanted: WantedDownload | undefined): Set<string> {
  if (!wanted) return new Set();
  const parts = [downloadPartPath(layout, wanted.name, wanted.version)];
  if (wanted.deltaFrom) parts.push(deltaPartPath(layout, wanted.name, wanted.deltaFrom, wanted.version));
  const paths = wanted.partialOnly ? parts : [...parts, ...parts.map(finishedDownloadPath)];
  return new Set(paths.map((p) => basename(p)));
}

/**
 * Leaves in downloads/ only the files of `wanted` (nothing when undefined). Only
 * regular files with names the agent gives are removed; anything else is left
 * to whoever put it there. Synchronous on purpose: the folder holds a handful of
 * files, and a sweep that never yields cannot interleave with an attempt creating
 * its part file between the listing and the removals.
 */
export function sweepDownloads(layout: Layout, wanted: WantedDownload | undefined, logger: Logger): DownloadsSweep {
  const keep = wantedFileNames(layout, wanted);
  const sweep: DownloadsSweep = { removedFiles: 0, removedBytes: 0, keptBytes: 0, foreign: [] };
  let entries: string[];
  try {
    entries = readdirSync(layout.downloadsDir);
  } catch {
    return sweep; // no folder yet: nothing to keep or remove
  }
  for (const entry of entries) {
    const path = join(layout.downloadsDir, entry);
    let stats: ReturnType<typeof lstatSync>;
    try {
      stats = lstatSync(path);
    } catch {
      continue; // gone meanwhile
    }
    const ours = stats.isFile() && isDownloadFileName(entry);
    if (!ours) sweep.foreign.push(entry);
    if (!ours || keep.has(entry)) {
      if (stats.isFile()) sweep.keptBytes += stats.size;
      continue;
    }
    try {
      rmSync(path, { force: true });
      sweep.removedFiles += 1;
      sweep.removedBytes += stats.size;
    } catch (err) {
      logger.warn({ err, file: entry }, "cannot remove a download no longer wanted");
      sweep.keptBytes += stats.size;
    }
  }
  if (sweep.removedFiles > 0) {
    logger.info(
      { removed: sweep.removedFiles, bytes: sweep.removedBytes, kept: wanted ? `${wanted.name}-${wanted.version}` : null },
      "removed downloads no longer wanted",
    );
  }
  if (sweep.foreign.length > 0) logger.debug({ foreign: sweep.foreign }, "downloads folder holds entries the agent did not name");
  return sweep;
}

/**
 * Refuses a download that would leave the folder above `download.maxFolderMiB`:
 * what is left after the sweep, less what `partPath` already holds of the
 * artifact, plus the artifact's signed size.
 */
export function checkFolderCap(opts: {
  sweep: DownloadsSweep;
  partBytes: number;
  artifactSize: number;
  capMiB: number;
  what: string;
}): void {
  const { sweep, partBytes, artifactSize, capMiB, what } = opts;
  const cap = capMiB * 1024 * 1024;
  const after = sweep.keptBytes - partBytes + artifactSize;
  if (after <= cap) return;
  const others = sweep.keptBytes - partBytes;
  const besides =
    others > 0
      ? `; the folder already holds ${others} bytes${sweep.foreign.length > 0 ? ` (including ${sweep.foreign.join(", ")}, not the agent's)` : ""}`
      : "";
  throw new EdgeError(
    "DOWNLOAD_TOO_LARGE",
    `${what} is ${artifactSize} bytes, more than the downloads folder may hold (download.maxFolderMiB = ${capMiB})${besides}`,
  );
}
