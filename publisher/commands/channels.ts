import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { isEdgeError } from "../../shared/errors.js";
import { nameProblem } from "../../shared/manifest.js";
import { readChannelPointer } from "../repo-files.js";
import { DEFAULT_WARN_DAYS, expiryWarning, pointerExpiry } from "../rollout/pointer-expiry.js";
import { textTable } from "../text-table.js";

export interface ChannelRow {
  name: string;
  channel: string;
  version: string;
  sequence: number;
  rollout: { percent: number; paused: boolean };
  expiresAt: string;
  expired: boolean;
  /** Not expired, but expiring within the look-ahead (`--warn-days`). */
  expiresSoon: boolean;
  daysLeft: number;
}

export interface ChannelsResult {
  channels: ChannelRow[];
  /** One line per pointer that is expired or expires within the look-ahead. */
  warnings: string[];
  /** Pointer files that could not be read, each with its one-line reason. */
  problems: { path: string; error: string }[];
}

/** The names in a folder, sorted; none when it does not exist. */
export async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/**
 * Every channel pointer under channels/ (of one name when given), sorted by
 * name and channel, with a warning for each that expires within `warnDays`
 * (default 7) or already has.
 */
export async function listChannels(opts: {
  repoDir: string;
  name?: string;
  now?: Date;
  warnDays?: number;
}): Promise<ChannelsResult> {
  const now = opts.now ?? new Date();
  const warnDays = opts.warnDays ?? DEFAULT_WARN_DAYS;
  const names = opts.name !== undefined ? [opts.name] : await listDir(join(opts.repoDir, "channels"));
  const result: ChannelsResult = { channels: [], warnings: [], problems: [] };
  for (const name of names) {
    if (nameProblem(name)) continue;
    for (const file of await listDir(join(opts.repoDir, "channels", name))) {
      if (!file.endsWith(".json") || file.endsWith(".history.json") || file.startsWith(".")) continue;
      const channel = file.slice(0, -".json".length);
      try {
        const doc = await readChannelPointer(opts.repoDir, name, channel);
        if (!doc) continue;
        const p = doc.value;
        const expiry = pointerExpiry(p.expiresAt, now, warnDays);
        result.channels.push({
          name: p.name,
          channel: p.channel,
          version: p.version,
          sequence: p.sequence,
          rollout: p.rollout ? { percent: p.rollout.percent, paused: p.rollout.paused } : { percent: 100, paused: false },
          expiresAt: p.expiresAt,
          ...expiry,
        });
        const warning = expiryWarning(p, expiry);
        if (warning) result.warnings.push(warning);
      } catch (err) {
        const error = isEdgeError(err) ? `${err.code}: ${err.message}` : String(err);
        result.problems.push({ path: join(opts.repoDir, "channels", name, file), error });
      }
    }
  }
  return result;
}

export function formatRollout(r: { percent: number; paused: boolean }): string {
  return `${r.percent}%${r.paused ? " paused" : ""}`;
}

export function channelsTable(rows: ChannelRow[]): string {
  const header = ["NAME", "CHANNEL", "VERSION", "SEQUENCE", "ROLLOUT", "EXPIRES"];
  const cells = rows.map((r) => [
    r.name,
    r.channel,
    r.version,
    String(r.sequence),
    formatRollout(r.rollout),
    r.expired ? `${r.expiresAt} EXPIRED` : r.expiresSoon ? `${r.expiresAt} (in ${r.daysLeft} days)` : r.expiresAt,
  ]);
  return textTable(header, cells);
}
