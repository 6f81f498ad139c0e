import { relative, sep } from "node:path";
import semver from "semver";
import { versionProblem } from "../../shared/manifest.js";

/**
 * Training writes this file into `<models>/<version>/` after the last model
 * file: it says "complete" without waiting for the folder to go quiet. It is
 * never part of the bundle.
 */
export const COMPLETE_MARKER = ".complete";

/** Where a watched path sits: the top-level folder it belongs to and its path inside that folder. */
export interface FolderPath {
  /** The top-level entry under the models folder (a version, or something to ignore). */
  folder: string;
  /** POSIX path inside `folder`; "" for the folder itself. */
  inner: string;
}

/** Undefined for the models folder itself and for anything outside it. */
export function locate(modelsDir: string, path: string): FolderPath | undefined {
  const rel = relative(modelsDir, path);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`)) return undefined;
  const [folder, ...rest] = rel.split(sep);
  if (folder === undefined || folder === "") return undefined;
  return { folder, inner: rest.join("/") };
}

/** A folder name the watcher builds: exactly a semantic version, as `build --version` accepts it. */
export function isVersionName(name: string): boolean {
  return versionProblem(name) === undefined;
}

/**
 * Hidden entries (`.tmp-1.2.0/`) are ignored without a warning, so training can
 * write into one and rename it into place when done.
 */
export function isHiddenName(name: string): boolean {
  return name.startsWith(".");
}

export function compareVersions(a: string, b: string): number {
  return semver.compare(a, b);
}
