import { readdir, rm } from "node:fs/promises";
import type { Logger } from "../logging.js";
import type { StateStore } from "../state/store.js";
import { type Layout, versionDir } from "./layout.js";

/**
 * Keeps the newest `keep` staged versions, and always the active and previous
 * ones whatever their age. Folders the journal does not know are half-staged
 * leftovers and go too.
 */
export async function pruneVersions(
  layout: Layout,
  store: Pick<StateStore, "listVersions" | "removeVersion">,
  keep: number,
  protect: ReadonlyArray<string | undefined | null>,
  logger: Logger,
): Promise<string[]> {
  const kept = new Set(protect.filter((v): v is string => typeof v === "string"));
  const known = store.listVersions(); // oldest first
  const removable = known.filter((v) => !kept.has(v.version));
  const budget = Math.max(0, keep - kept.size);
  const toRemove = removable.slice(0, Math.max(0, removable.length - budget)).map((v) => v.version);
  const knownNames = new Set(known.map((v) => v.version));
  for (const entry of await readdir(layout.versionsDir).catch(() => [] as string[])) {
    if (!knownNames.has(entry) && !kept.has(entry)) toRemove.push(entry);
  }
  for (const version of toRemove) {
    // Forget it first: a crash mid-delete then leaves an unknown folder, removed next time.
    store.removeVersion(version);
    await rm(versionDir(layout, version), { recursive: true, force: true });
    logger.info({ version }, "pruned old version");
  }
  return toRemove;
}
