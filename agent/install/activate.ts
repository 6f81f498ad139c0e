import { readdir, readlink, rm, unlink } from "node:fs/promises";
import { EdgeError } from "../../shared/errors.js";
import { fsyncDir, swapSymlink } from "../../shared/fs-atomic.js";
import { currentLinkTarget, type Layout, versionDir, versionFromLinkTarget } from "./layout.js";

/** The version `current` points at, or undefined when there is none (first install). */
export async function readCurrentVersion(layout: Layout): Promise<string | undefined> {
  let target: string;
  try {
    target = await readlink(layout.currentLink);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const version = versionFromLinkTarget(target);
  if (version === undefined) {
    throw new EdgeError("ACTIVATION_FAILED", `${layout.currentLink} points at ${target}, which is not a version folder`);
  }
  return version;
}

/** Atomically points `current` at a staged version. */
export async function activateVersion(layout: Layout, version: string): Promise<void> {
  try {
    await swapSymlink(layout.currentLink, currentLinkTarget(version));
  } catch (cause) {
    throw new EdgeError("ACTIVATION_FAILED", `cannot point current at ${versionDir(layout, version)}`, { cause });
  }
}

/** Removes `current` (a failed first install has nothing to go back to). */
export async function deactivate(layout: Layout): Promise<void> {
  await unlink(layout.currentLink).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
  await fsyncDir(layout.dataDir);
}

/** Leftovers of an interrupted swap or extraction: temporary links and staging folders. */
export async function removeLeftovers(layout: Layout): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(layout.dataDir)) {
    if (entry.startsWith(".current.") && entry.endsWith(".tmp")) {
      await rm(`${layout.dataDir}/${entry}`, { force: true });
      removed.push(entry);
    }
  }
  for (const entry of await readdir(layout.stagingDir).catch(() => [] as string[])) {
    await rm(`${layout.stagingDir}/${entry}`, { recursive: true, force: true });
    removed.push(`staging/${entry}`);
  }
  return removed;
}
