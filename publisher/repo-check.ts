import { stat } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError } from "../shared/errors.js";

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return false;
    throw new EdgeError("REPO_INVALID", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * For commands that read an existing repository (serve, channels, releases,
 * rollout, promote): a mistyped --repo must fail here, naming the path, rather
 * than serve nothing, list nothing, or write channel pointers into a new folder.
 * A repository is a folder holding releases/ or channels/ (build makes the first).
 */
export async function requireRepository(repoDir: string): Promise<void> {
  const shown = JSON.stringify(repoDir);
  const st = await stat(repoDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new EdgeError("REPO_INVALID", `repository ${shown} does not exist`, { cause: err });
    throw new EdgeError("REPO_INVALID", `cannot read repository ${shown}: ${err.message}`, { cause: err });
  });
  if (!st.isDirectory()) throw new EdgeError("REPO_INVALID", `repository ${shown} is not a folder`);
  if ((await isDirectory(join(repoDir, "releases"))) || (await isDirectory(join(repoDir, "channels")))) return;
  throw new EdgeError(
    "REPO_INVALID",
    `${shown} is not an edgepull repository: it has no releases/ or channels/ folder (edge-publish build --repo creates one)`,
  );
}
