import { join } from "node:path";
import { isEdgeError } from "../../shared/errors.js";
import { nameProblem } from "../../shared/manifest.js";
import { withdrawalListPath } from "../../shared/repo-layout.js";
import { listDir } from "../commands/channels.js";
import { DEFAULT_WARN_DAYS, pointerExpiry, withdrawalExpiryWarning } from "../rollout/pointer-expiry.js";
import { readWithdrawals } from "./withdrawal-file.js";

export interface WithdrawalListRow {
  name: string;
  sequence: number;
  /** How many versions it withdraws. */
  entries: number;
  expiresAt: string;
  expired: boolean;
  /** Not expired, but expiring within the look-ahead. */
  expiresSoon: boolean;
  daysLeft: number;
  path: string;
}

export interface WithdrawalListsResult {
  lists: WithdrawalListRow[];
  /** One line per list that is expired or expires within the look-ahead. */
  warnings: string[];
  /** List files that could not be read, each with its one-line reason. */
  problems: { path: string; error: string }[];
}

async function listedNames(repoDir: string): Promise<string[]> {
  const files = await listDir(join(repoDir, "withdrawals"));
  return files.filter((f) => f.endsWith(".json") && !f.startsWith(".")).map((f) => f.slice(0, -".json".length));
}

/**
 * Every withdrawal list under withdrawals/ (of one name when given), by name,
 * with its expiry `warnDays` (default 7) ahead: it expires like a pointer,
 * and an expired one fails every device's channel check, so `channels` and
 * `refresh` look at both.
 */
export async function listWithdrawalLists(opts: {
  repoDir: string;
  name?: string;
  now?: Date;
  warnDays?: number;
}): Promise<WithdrawalListsResult> {
  const now = opts.now ?? new Date();
  const warnDays = opts.warnDays ?? DEFAULT_WARN_DAYS;
  const names = opts.name !== undefined ? [opts.name] : await listedNames(opts.repoDir);
  const result: WithdrawalListsResult = { lists: [], warnings: [], problems: [] };
  for (const name of names) {
    if (nameProblem(name)) continue;
    try {
      const found = await readWithdrawals(opts.repoDir, name);
      if (!found) continue;
      const l = found.list;
      const expiry = pointerExpiry(l.expiresAt, now, warnDays);
      const summary = { name: l.name, sequence: l.sequence, entries: l.entries.length, expiresAt: l.expiresAt };
      result.lists.push({ ...summary, ...expiry, path: found.path });
      const warning = withdrawalExpiryWarning(summary, expiry);
      if (warning) result.warnings.push(warning);
    } catch (err) {
      const error = isEdgeError(err) ? `${err.code}: ${err.message}` : String(err);
      result.problems.push({ path: join(opts.repoDir, withdrawalListPath(name)), error });
    }
  }
  return result;
}
