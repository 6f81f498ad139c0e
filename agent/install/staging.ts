import { chmod, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "../../shared/fs-atomic.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { type Layout, stagingDirFor, versionDir } from "./layout.js";

/**
 * The staging folder's file operations: a version is built in
 * staging/<version>.<attempt>/, checked, made read-only and renamed into
 * versions/<version>. Nothing here knows about the journal.
 */

/** Removes everything in staging/: a version half built there is never used. */
export async function cleanStaging(layout: Layout): Promise<void> {
  const dir = layout.stagingDir;
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    await rm(join(dir, entry), { recursive: true, force: true });
  }
}

/** An empty staging folder for `version`, after whatever an earlier try left there is gone. */
export async function freshStagingDir(layout: Layout, version: string, attemptId: number): Promise<string> {
  await cleanStaging(layout);
  return stagingDirFor(layout, version, attemptId);
}

/** Staged files are read-only: the service must not change a version another boot may return to. */
export async function makeReadOnly(dir: string, files: readonly PayloadFile[]): Promise<void> {
  for (const f of files) {
    await chmod(join(dir, f.path), f.mode === 0o755 ? 0o555 : 0o444);
  }
}

/** Verified files in `dest` become versions/<version>, durably; returns that folder. */
export async function commitStaging(
  layout: Layout,
  version: string,
  files: readonly PayloadFile[],
  dest: string,
): Promise<string> {
  await makeReadOnly(dest, files);
  const final = versionDir(layout, version);
  // A folder here that the journal does not know is a leftover of a crash between rename and record.
  await rm(final, { recursive: true, force: true });
  await rename(dest, final);
  await fsyncDir(layout.versionsDir);
  return final;
}
