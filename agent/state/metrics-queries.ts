import type { Db } from "./db.js";
import { RowReader } from "./rows.js";

export interface AttemptTotal {
  kind: string;
  result: string | null;
  count: number;
  bytesDownloaded: number;
  bytesSaved: number;
}

/**
 * Attempt counts, downloaded bytes and bytes saved by deltas per (kind, result), for the metrics
 * endpoint. The only SQL outside store.ts: it is read-only, serves a scrape that
 * must stay cheap however long the journal grows (one grouped row per kind and
 * result, no release JSON), and belongs next to the schema it reads; it can move
 * into StateStore unchanged.
 */
export function attemptTotals(db: Db): AttemptTotal[] {
  return db
    .prepare(
      `SELECT kind, result, COUNT(*) AS count, COALESCE(SUM(bytes_downloaded), 0) AS bytesDownloaded,
         COALESCE(SUM(bytes_saved), 0) AS bytesSaved
       FROM attempts GROUP BY kind, result ORDER BY kind, result`,
    )
    .all()
    .map((raw) => {
      const r = new RowReader("attempts totals", raw);
      return {
        kind: r.text("kind"),
        result: r.textOrNull("result"),
        count: r.integer("count"),
        bytesDownloaded: r.integer("bytesDownloaded"),
        bytesSaved: r.integer("bytesSaved"),
      };
    });
}

export interface HandoverTotal {
  outcome: string;
  reason: string | null;
  count: number;
}

/** Hand-over outcomes of every attempt that recorded one (none in restart mode). */
export function handoverTotals(db: Db): HandoverTotal[] {
  return db
    .prepare(
      `SELECT handover AS outcome, handover_reason AS reason, COUNT(*) AS count FROM attempts
       WHERE handover IS NOT NULL GROUP BY handover, handover_reason ORDER BY handover, handover_reason`,
    )
    .all()
    .map((raw) => {
      const r = new RowReader("hand-over totals", raw);
      return { outcome: r.text("outcome"), reason: r.textOrNull("reason"), count: r.integer("count") };
    });
}
