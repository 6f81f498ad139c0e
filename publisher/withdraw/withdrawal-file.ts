import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError, isEdgeError } from "../../shared/errors.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { withdrawalListPath } from "../../shared/repo-layout.js";
import { parseWithdrawalList, type WithdrawalList, withdrawalOf, withdrawnError } from "../../shared/withdrawals.js";

/** The repository's withdrawal list of `name`, as written (the publisher does not check its own signature). */
export async function readWithdrawals(
  repoDir: string,
  name: string,
): Promise<{ list: WithdrawalList; bytes: Buffer; path: string } | undefined> {
  const path = join(repoDir, withdrawalListPath(name));
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EdgeError("INTERNAL", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let list: WithdrawalList;
  try {
    list = parseWithdrawalList(parseEnvelopeText(bytes.toString("utf8"), path).signed);
  } catch (err) {
    if (isEdgeError(err) && !err.message.includes(path)) throw new EdgeError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
  if (list.name !== name) throw new EdgeError("NAME_MISMATCH", `${path} withdraws releases of ${list.name}, expected ${name}`);
  return { list, bytes, path };
}

/** The versions of `name` the repository withdrew. */
export async function withdrawnVersions(repoDir: string, name: string): Promise<Set<string>> {
  const found = await readWithdrawals(repoDir, name);
  return new Set(found?.list.entries.map((e) => e.version) ?? []);
}

/**
 * The guard of every command that points devices at a version (publish,
 * promote, rollout): a withdrawn one is refused unless forced. Forced or not,
 * devices never install it.
 */
export async function refuseWithdrawn(repoDir: string, name: string, version: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  const entry = withdrawalOf((await readWithdrawals(repoDir, name))?.list, version);
  if (entry) {
    throw withdrawnError(entry, "pass --force to point a channel at it anyway (devices still refuse to install it)");
  }
}
