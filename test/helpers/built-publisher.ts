import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { PUBLISH_BIN, REPO_ROOT } from "./processes.js";

const exec = promisify(execFile);

/** Newest modification time of the sources edge-publish is compiled from. */
async function newestPublisherSource(): Promise<number> {
  let newest = 0;
  for (const dir of ["publisher", "shared"]) {
    for (const entry of await readdir(join(REPO_ROOT, dir), { recursive: true })) {
      if (entry.endsWith(".ts")) newest = Math.max(newest, (await stat(join(REPO_ROOT, dir, entry))).mtimeMs);
    }
  }
  return newest;
}

/**
 * Makes sure dist/publisher is at least as new as its sources. Rebuilds only when
 * stale: under `npm test` pretest has just built, and rewriting dist/ while other
 * test files spawn compiled programs could hand them a half-written file. Other
 * modules' type errors must not block emitting ours, so tsc's exit code is not the
 * verdict: a fresh main.js is. Throws when it is still stale.
 */
export async function ensurePublisherBuilt(): Promise<void> {
  const builtAt = async (): Promise<number> => (existsSync(PUBLISH_BIN) ? (await stat(PUBLISH_BIN)).mtimeMs : 0);
  const newest = await newestPublisherSource();
  if ((await builtAt()) >= newest) return;
  await exec("npm", ["run", "build"], { cwd: REPO_ROOT }).catch(() => undefined);
  if ((await builtAt()) < newest) throw new Error(`${PUBLISH_BIN} is older than its sources after npm run build`);
}
