import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import semver from "semver";
import { EdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import type { ChannelPointer } from "../../shared/manifest.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";

/**
 * What a channel named before, for `rollout --abort`.
 *
 * `channels/<name>/<channel>.history.json` is publisher bookkeeping, not signed
 * and never read by devices: `{ "entries": [{ sequence, version, at }] }`,
 * oldest first, the newest HISTORY_LIMIT kept. promote and rollout record every
 * pointer they write and the one it replaced. Pointers written by `publish` or
 * `watch` are not recorded, so the walk back from the current pointer stops at
 * the first missing sequence number; the repository then decides: the highest
 * built version below the current one.
 */
export const HISTORY_LIMIT = 50;

export interface HistoryEntry {
  sequence: number;
  version: string;
  at: string;
}

export function historyPath(name: string, channel: string): string {
  return `channels/${name}/${channel}.history.json`;
}

export async function readHistory(repoDir: string, name: string, channel: string): Promise<HistoryEntry[]> {
  const path = join(repoDir, historyPath(name, channel));
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new EdgeError("INTERNAL", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const value = JSON.parse(text) as { entries?: unknown };
    if (!Array.isArray(value.entries)) throw new Error('no "entries" list');
    return value.entries.filter(
      (e): e is HistoryEntry =>
        typeof e === "object" && e !== null && Number.isSafeInteger(e.sequence) && typeof e.version === "string",
    );
  } catch (cause) {
    throw new EdgeError("METADATA_MALFORMED", `${path} is not a channel history: ${(cause as Error).message}`, { cause });
  }
}

/** Merges pointers into the history by sequence number (a rewrite of the same sequence replaces it). */
export function mergeHistory(entries: HistoryEntry[], pointers: ChannelPointer[]): HistoryEntry[] {
  const bySequence = new Map(entries.map((e) => [e.sequence, e]));
  for (const p of pointers) bySequence.set(p.sequence, { sequence: p.sequence, version: p.version, at: p.createdAt });
  return [...bySequence.values()].sort((a, b) => a.sequence - b.sequence).slice(-HISTORY_LIMIT);
}

export async function recordPointers(repoDir: string, name: string, channel: string, pointers: ChannelPointer[]): Promise<void> {
  const merged = mergeHistory(await readHistory(repoDir, name, channel), pointers);
  await writeFileAtomic(join(repoDir, historyPath(name, channel)), `${JSON.stringify({ entries: merged }, null, 2)}\n`);
}

/**
 * The version before the current pointer's, walking back one sequence number at
 * a time; undefined when the walk reaches a sequence the history does not know.
 */
export function previousFromHistory(entries: HistoryEntry[], current: { sequence: number; version: string }): string | undefined {
  const bySequence = new Map(entries.map((e) => [e.sequence, e]));
  for (let s = current.sequence - 1; s >= 1; s--) {
    const entry = bySequence.get(s);
    if (!entry) return undefined;
    if (entry.version !== current.version) return entry.version;
  }
  return undefined;
}

/** The highest built version of `name` below `version`, or undefined. */
export async function previousFromRepository(repoDir: string, name: string, version: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(join(repoDir, "releases", name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const lower = names.filter((v) => semver.valid(v) === v && semver.lt(v, version)).sort(semver.rcompare);
  for (const v of lower) {
    try {
      await readFile(join(repoDir, releaseManifestPath(name, v)));
      return v;
    } catch {
      // A half-built folder without release.json is not a release.
    }
  }
  return undefined;
}

export interface AbortTarget {
  version: string;
  source: "history" | "repository";
}

export async function abortTarget(repoDir: string, current: ChannelPointer): Promise<AbortTarget> {
  const fromHistory = previousFromHistory(await readHistory(repoDir, current.name, current.channel), current);
  if (fromHistory) return { version: fromHistory, source: "history" };
  const fromRepo = await previousFromRepository(repoDir, current.name, current.version);
  if (fromRepo) return { version: fromRepo, source: "repository" };
  throw new EdgeError(
    "NO_PREVIOUS_VERSION",
    `${current.name} ${current.channel} carries ${current.version} and no earlier release is known (no history before sequence ${current.sequence}, no lower version built)`,
  );
}
