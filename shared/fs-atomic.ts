import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, rename, rm, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** fsync a folder so a rename or new entry inside it survives power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Writes a file so readers see the old content or the new, never a torn one. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = tempSibling(path);
  try {
    const handle = await open(tmp, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}

/**
 * Points `linkPath` at `target` with no moment where it is missing: a new link
 * under a temporary name is renamed over the old one (rename(2) is atomic), then
 * the folder is fsynced so the switch survives power loss.
 */
export async function swapSymlink(linkPath: string, target: string): Promise<void> {
  const tmp = tempSibling(linkPath);
  await symlink(target, tmp);
  try {
    await rename(tmp, linkPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(linkPath));
}

export async function writeFileDurable(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await writeFile(path, data, { mode });
  await fsyncFile(path);
}
