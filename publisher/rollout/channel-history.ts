import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import semver from "semver";
import { EdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import type { ChannelPointer, RolloutPolicy } from "../../shared/manifest.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";
import type { PromotionFigures, PromotionPolicy } from "./promotion-evidence.js";

/**
 * What a channel carried before, for `rollout --abort`.
 *
 * `channels/<name>/<channel>.history.json` is publisher bookkeeping, not signed
 * and never read by devices: `{ "entries": [{ sequence, version, at, rollout?,
 * aborted? }] }`, oldest first, the newest HISTORY_LIMIT kept. Every pointer
 * the publisher writes is recorded (publish, watch, promote, rollout, delta),
 * with its rollout share (absent: every device). The pointer an abort writes
 * also records the version it took the channel away from and how (`aborted:
 * { version, by: "abort" | "halt" }`), so that version is not chosen again.
 * The pointer a promote writes records who promoted, from which channel, why
 * (`--reason`) and, with thresholds, the figures it was promoted on
 * (`promotion: { from, fromSequence, by, reason?, evidence? }`).
 *
 * A release is *healthy* on the channel when the history has a pointer naming
 * it at 100 % and not paused, with no abort of that version recorded after
 * that pointer, and it is not withdrawn. Abort goes back to the healthy release
 * carried most recently. Only when the history has a gap before the current
 * pointer (repositories written before publish recorded history, or other
 * tools) and knows no healthy release does the repository decide: the highest
 * built version below the current one that is neither withdrawn nor recorded
 * as aborted.
 */
export const HISTORY_LIMIT = 50;

export type AbortHow = "abort" | "halt";

/** Who promoted a release onto the channel, from where, why, and on which figures. */
export interface PromotionRecord {
  from: string;
  fromSequence: number;
  /** --by, else the OS user who ran promote. */
  by: string;
  reason?: string;
  /** With --require-healthy-hours: the thresholds and the figures the devices reported at promotion time. */
  evidence?: PromotionFigures & { policy: PromotionPolicy; at: string };
}

export interface HistoryEntry {
  sequence: number;
  version: string;
  at: string;
  /** The pointer's share; absent: every device (also entries written before shares were recorded). */
  rollout?: RolloutPolicy;
  /** On a pointer written by an abort: the version it replaced, and whether an operator or a halt aborted it. */
  aborted?: { version: string; by: AbortHow };
  /** On a pointer written by promote. */
  promotion?: PromotionRecord;
}

export function historyPath(name: string, channel: string): string {
  return `channels/${name}/${channel}.history.json`;
}

function isEntry(e: unknown): e is HistoryEntry {
  if (typeof e !== "object" || e === null) return false;
  const v = e as Record<string, unknown>;
  return Number.isSafeInteger(v.sequence) && typeof v.version === "string";
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
    return value.entries.filter(isEntry);
  } catch (cause) {
    throw new EdgeError("METADATA_MALFORMED", `${path} is not a channel history: ${(cause as Error).message}`, { cause });
  }
}

function entryOf(p: ChannelPointer): HistoryEntry {
  const entry: HistoryEntry = { sequence: p.sequence, version: p.version, at: p.createdAt };
  if (p.rollout) entry.rollout = { percent: p.rollout.percent, paused: p.rollout.paused };
  return entry;
}

/**
 * Merges pointers into the history by sequence number. A rewrite of the same
 * sequence replaces the entry but keeps what an abort or a promote recorded on
 * it; `aborted` and `promotion` go on the last pointer given.
 */
export function mergeHistory(
  entries: HistoryEntry[],
  pointers: ChannelPointer[],
  aborted?: HistoryEntry["aborted"],
  promotion?: PromotionRecord,
): HistoryEntry[] {
  const bySequence = new Map(entries.map((e) => [e.sequence, e]));
  for (const [i, p] of pointers.entries()) {
    const entry = entryOf(p);
    const last = i === pointers.length - 1;
    const before = bySequence.get(p.sequence);
    const mark = last && aborted ? aborted : before?.aborted;
    if (mark) entry.aborted = mark;
    const promoted = last && promotion ? promotion : before?.promotion;
    if (promoted) entry.promotion = promoted;
    bySequence.set(p.sequence, entry);
  }
  return [...bySequence.values()].sort((a, b) => a.sequence - b.sequence).slice(-HISTORY_LIMIT);
}

export async function recordPointers(
  repoDir: string,
  name: string,
  channel: string,
  pointers: ChannelPointer[],
  aborted?: HistoryEntry["aborted"],
  promotion?: PromotionRecord,
): Promise<void> {
  const merged = mergeHistory(await readHistory(repoDir, name, channel), pointers, aborted, promotion);
  await writeFileAtomic(join(repoDir, historyPath(name, channel)), `${JSON.stringify({ entries: merged }, null, 2)}\n`);
}

function reachedEveryDevice(e: HistoryEntry): boolean {
  return !e.rollout || (e.rollout.percent >= 100 && !e.rollout.paused);
}

/** The sequence of the newest abort recorded against each version. */
function abortsByVersion(entries: HistoryEntry[]): Map<string, number> {
  const last = new Map<string, number>();
  for (const e of entries) {
    if (e.aborted) last.set(e.aborted.version, Math.max(last.get(e.aborted.version) ?? 0, e.sequence));
  }
  return last;
}

/**
 * The releases that were healthy on the channel before `current` (see the
 * module comment), most recently carried first. Pure.
 */
export function healthyReleases(
  entries: HistoryEntry[],
  current: { sequence: number; version: string },
  withdrawn: ReadonlySet<string>,
): string[] {
  const aborts = abortsByVersion(entries);
  const out: string[] = [];
  const newestFirst = [...entries].sort((a, b) => b.sequence - a.sequence);
  for (const e of newestFirst) {
    if (e.sequence >= current.sequence || e.version === current.version || out.includes(e.version)) continue;
    if (withdrawn.has(e.version) || !reachedEveryDevice(e)) continue;
    if ((aborts.get(e.version) ?? 0) > e.sequence) continue;
    out.push(e.version);
  }
  return out;
}

/**
 * Whether the history knows every pointer before `sequence`: from 1, or from
 * its oldest entry once HISTORY_LIMIT entries have pushed older ones out.
 */
export function historyCovers(entries: HistoryEntry[], sequence: number): boolean {
  const known = new Set(entries.map((e) => e.sequence));
  const oldest = entries.length >= HISTORY_LIMIT ? Math.min(...known) : 1;
  for (let s = oldest; s < sequence; s++) if (!known.has(s)) return false;
  return true;
}

async function isBuilt(repoDir: string, name: string, version: string): Promise<boolean> {
  try {
    await readFile(join(repoDir, releaseManifestPath(name, version)));
    return true;
  } catch {
    // A half-built folder without release.json is not a release.
    return false;
  }
}

/** Built versions of `name` below `version`, highest first. */
export async function lowerBuiltVersions(repoDir: string, name: string, version: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(repoDir, "releases", name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const lower = names.filter((v) => semver.valid(v) === v && semver.lt(v, version)).sort(semver.rcompare);
  const built: string[] = [];
  for (const v of lower) if (await isBuilt(repoDir, name, v)) built.push(v);
  return built;
}

export interface AbortTarget {
  version: string;
  /** history: the last healthy release; repository: the history had a gap; operator: `--to`. */
  source: "history" | "repository" | "operator";
}

export async function abortTarget(
  repoDir: string,
  current: ChannelPointer,
  withdrawn: ReadonlySet<string>,
): Promise<AbortTarget> {
  const entries = await readHistory(repoDir, current.name, current.channel);
  for (const version of healthyReleases(entries, current, withdrawn)) {
    // A release folder removed since: not a place to send devices.
    if (await isBuilt(repoDir, current.name, version)) return { version, source: "history" };
  }
  const covered = historyCovers(entries, current.sequence);
  if (!covered) {
    const aborted = abortsByVersion(entries);
    const lower = await lowerBuiltVersions(repoDir, current.name, current.version);
    const version = lower.find((v) => !withdrawn.has(v) && !aborted.has(v));
    if (version) return { version, source: "repository" };
  }
  throw new EdgeError(
    "NO_PREVIOUS_VERSION",
    `${current.name} ${current.channel} carries ${current.version} (sequence ${current.sequence}) and no earlier healthy release is known ` +
      `(${covered ? "the channel history names none that reached every device without being aborted or withdrawn" : "none in the channel history, and no lower built version that is not withdrawn or aborted"}); ` +
      "name one with --to VERSION",
  );
}
