import { VERSION_HEALTH_LIMIT, type VersionHealth } from "../../shared/topics.js";
import type { DeniedRow, RollbackCount, ServingTimeRow } from "../state/store.js";

export type { VersionHealth };

/**
 * Each version's serving time, rollbacks and deny-list entry in one list
 * (the status field `versionHealth`), the most recently active first, at most
 * `limit` of them. Pure: the caller reads the journal.
 */
export function versionHealthOf(
  serving: readonly ServingTimeRow[],
  rollbacks: readonly RollbackCount[],
  denied: readonly Pick<DeniedRow, "version" | "deniedAt">[],
  limit = VERSION_HEALTH_LIMIT,
): VersionHealth[] {
  const entries = new Map<string, VersionHealth & { lastAt: string }>();
  const entry = (version: string): VersionHealth & { lastAt: string } => {
    let e = entries.get(version);
    if (!e) {
      e = { version, healthySeconds: 0, unhealthySeconds: 0, rollbacks: 0, denied: false, lastAt: "" };
      entries.set(version, e);
    }
    return e;
  };
  const touch = (e: { lastAt: string }, at: string | null): void => {
    if (at !== null && at > e.lastAt) e.lastAt = at;
  };
  for (const s of serving) {
    const e = entry(s.version);
    // Whole seconds, rounded down: a device never claims time it did not serve.
    e.healthySeconds = Math.floor(s.healthyMs / 1000);
    e.unhealthySeconds = Math.floor(s.unhealthyMs / 1000);
    touch(e, s.lastAt);
  }
  for (const r of rollbacks) {
    const e = entry(r.version);
    e.rollbacks += r.count;
    touch(e, r.lastAt);
  }
  for (const d of denied) {
    const e = entry(d.version);
    e.denied = true;
    touch(e, d.deniedAt);
  }
  return [...entries.values()]
    .sort((a, b) => (a.lastAt === b.lastAt ? (a.version < b.version ? -1 : 1) : a.lastAt < b.lastAt ? 1 : -1))
    .slice(0, limit)
    .map(({ lastAt: _lastAt, ...health }) => health);
}
