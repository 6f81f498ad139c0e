import type { ErrorCode } from "../../shared/errors.js";
import type { Db } from "./db.js";
import type { HandoverRecord } from "./journal-rows.js";
import {
  type AttemptRow,
  type DeniedRow,
  type LastCheck,
  type NewAttempt,
  type PhaseEntry,
  parseAttemptRow,
  parseDeniedRow,
  parseHold,
  parseLastCheck,
  parsePhaseEntry,
  parseRollbackCount,
  parseServingTimeRow,
  parseVersionRow,
  parseWithdrawalsRow,
  type RollbackCount,
  type ServingTimeRow,
  type StoredHold,
  type StoredWithdrawals,
  type VersionRow,
} from "./journal-rows.js";
import type { AttemptResult, Phase } from "./phases.js";
import { RowReader } from "./rows.js";

/** Every SQL statement of the agent lives here. */

export type {
  AttemptKind,
  AttemptRow,
  DeniedRow,
  HandoverRecord,
  LastCheck,
  NewAttempt,
  PhaseEntry,
  RollbackCount,
  ServingTimeRow,
  VersionRow,
} from "./journal-rows.js";

const ATTEMPT_COLUMNS = `id, kind, source, from_version AS fromVersion, to_version AS toVersion, release_json AS releaseJson,
  release_digest AS releaseDigest, phase, result, error_code AS errorCode, error_message AS errorMessage,
  rollback_error_code AS rollbackErrorCode, rollback_error_message AS rollbackErrorMessage,
  bytes_downloaded AS bytesDownloaded, delivery, delta_from AS deltaFrom, delta_fallback_code AS deltaFallbackCode,
  delta_fallback_message AS deltaFallbackMessage, bytes_saved AS bytesSaved, handover, handover_reason AS handoverReason,
  handover_detail AS handoverDetail, started_at AS startedAt, updated_at AS updatedAt, finished_at AS finishedAt`;

const DENIED_SELECT =
  "SELECT version, release_digest AS releaseDigest, error_code AS errorCode, reason, denied_at AS deniedAt FROM denied";
const VERSION_SELECT =
  "SELECT version, release_json AS releaseJson, release_digest AS releaseDigest, staged_at AS stagedAt FROM versions";

export class StateStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private stamp(): string {
    return this.now().toISOString();
  }

  beginAttempt(a: NewAttempt): number {
    const at = this.stamp();
    return this.db.transaction(() => {
      const info = this.db
        .prepare(
          `INSERT INTO attempts (kind, source, from_version, to_version, release_json, release_digest, phase, started_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(a.kind, a.source, a.fromVersion, a.toVersion, a.releaseJson, a.releaseDigest, a.phase, at, at);
      const id = Number(info.lastInsertRowid);
      this.db.prepare("INSERT INTO phase_log (attempt_id, phase, at) VALUES (?, ?, ?)").run(id, a.phase, at);
      return id;
    })();
  }

  setPhase(id: number, phase: Phase): void {
    const at = this.stamp();
    this.db.transaction(() => {
      this.db.prepare("UPDATE attempts SET phase = ?, updated_at = ? WHERE id = ?").run(phase, at, id);
      this.db.prepare("INSERT INTO phase_log (attempt_id, phase, at) VALUES (?, ?, ?)").run(id, phase, at);
    })();
  }

  /** Records why an attempt is failing before the rollback that follows runs. */
  setError(id: number, code: ErrorCode, message: string): void {
    this.db
      .prepare("UPDATE attempts SET error_code = ?, error_message = ?, updated_at = ? WHERE id = ?")
      .run(code, message, this.stamp(), id);
  }

  setBytesDownloaded(id: number, bytes: number): void {
    this.db.prepare("UPDATE attempts SET bytes_downloaded = ?, updated_at = ? WHERE id = ?").run(bytes, this.stamp(), id);
  }

  setDelivery(id: number, delivery: "bundle" | "delta", deltaFrom: string | null): void {
    this.db
      .prepare("UPDATE attempts SET delivery = ?, delta_from = ?, updated_at = ? WHERE id = ?")
      .run(delivery, deltaFrom, this.stamp(), id);
  }

  /** The delta was given up: the attempt goes on with the bundle. */
  setDeltaFallback(id: number, code: ErrorCode, message: string): void {
    this.db
      .prepare(
        "UPDATE attempts SET delivery = 'bundle', delta_fallback_code = ?, delta_fallback_message = ?, updated_at = ? WHERE id = ?",
      )
      .run(code, message, this.stamp(), id);
  }

  setHandover(id: number, handover: HandoverRecord): void {
    this.db
      .prepare("UPDATE attempts SET handover = ?, handover_reason = ?, handover_detail = ?, updated_at = ? WHERE id = ?")
      .run(handover.outcome, handover.reason, handover.detail, this.stamp(), id);
  }

  setBytesSaved(id: number, bytes: number): void {
    this.db.prepare("UPDATE attempts SET bytes_saved = ?, updated_at = ? WHERE id = ?").run(bytes, this.stamp(), id);
  }

  finishAttempt(id: number, result: AttemptResult, rollbackError?: { code: ErrorCode; message: string }): void {
    const at = this.stamp();
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE attempts SET phase = ?, result = ?, rollback_error_code = ?, rollback_error_message = ?,
             updated_at = ?, finished_at = ? WHERE id = ?`,
        )
        .run(result, result, rollbackError?.code ?? null, rollbackError?.message ?? null, at, at, id);
      this.db.prepare("INSERT INTO phase_log (attempt_id, phase, at) VALUES (?, ?, ?)").run(id, result, at);
    })();
  }

  openAttempt(): AttemptRow | undefined {
    return optionalRow(
      this.db.prepare(`SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1`).get(),
      parseAttemptRow,
    );
  }

  getAttempt(id: number): AttemptRow | undefined {
    return optionalRow(this.db.prepare(`SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE id = ?`).get(id), parseAttemptRow);
  }

  lastFinishedAttempt(): AttemptRow | undefined {
    return optionalRow(
      this.db.prepare(`SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1`).get(),
      parseAttemptRow,
    );
  }

  history(limit: number): AttemptRow[] {
    return this.db.prepare(`SELECT ${ATTEMPT_COLUMNS} FROM attempts ORDER BY id DESC LIMIT ?`).all(limit).map(parseAttemptRow);
  }

  phaseLog(id: number): PhaseEntry[] {
    return this.db.prepare("SELECT phase, at FROM phase_log WHERE attempt_id = ? ORDER BY rowid").all(id).map(parsePhaseEntry);
  }

  /** Failed attempts at `version` since the last attempt at it that succeeded, for retry backoff. */
  recentFailures(version: string): { count: number; lastAt: string | null } {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS count, MAX(finished_at) AS lastAt FROM attempts
         WHERE to_version = ? AND result = 'failed'
           AND id > COALESCE((SELECT MAX(id) FROM attempts WHERE to_version = ? AND result = 'succeeded'), 0)`,
      )
      .get(version, version);
    const r = new RowReader("attempts", row);
    return { count: r.integer("count"), lastAt: r.textOrNull("lastAt") };
  }

  recordVersion(v: VersionRow): void {
    this.db
      .prepare(
        `INSERT INTO versions (version, release_json, release_digest, staged_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (version) DO UPDATE SET release_json = excluded.release_json,
           release_digest = excluded.release_digest, staged_at = excluded.staged_at`,
      )
      .run(v.version, v.releaseJson, v.releaseDigest, v.stagedAt);
  }

  getVersion(version: string): VersionRow | undefined {
    return optionalRow(this.db.prepare(`${VERSION_SELECT} WHERE version = ?`).get(version), parseVersionRow);
  }

  listVersions(): VersionRow[] {
    return this.db.prepare(`${VERSION_SELECT} ORDER BY staged_at, version`).all().map(parseVersionRow);
  }

  removeVersion(version: string): void {
    this.db.prepare("DELETE FROM versions WHERE version = ?").run(version);
  }

  deny(row: Omit<DeniedRow, "deniedAt">): void {
    this.db
      .prepare(
        `INSERT INTO denied (version, release_digest, error_code, reason, denied_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (version) DO UPDATE SET release_digest = excluded.release_digest, error_code = excluded.error_code,
           reason = excluded.reason, denied_at = excluded.denied_at`,
      )
      .run(row.version, row.releaseDigest, row.errorCode, row.reason, this.stamp());
  }

  isDenied(version: string): DeniedRow | undefined {
    return optionalRow(this.db.prepare(`${DENIED_SELECT} WHERE version = ?`).get(version), parseDeniedRow);
  }

  listDenied(): DeniedRow[] {
    return this.db.prepare(`${DENIED_SELECT} ORDER BY denied_at`).all().map(parseDeniedRow);
  }

  /** Clears one version from the deny-list, or all of them; returns how many were cleared. */
  clearDenied(version?: string): number {
    const info =
      version === undefined
        ? this.db.prepare("DELETE FROM denied").run()
        : this.db.prepare("DELETE FROM denied WHERE version = ?").run(version);
    return info.changes;
  }

  private getKv(key: string): string | undefined {
    const row = this.db.prepare("SELECT key, value FROM kv WHERE key = ?").get(key);
    return row === undefined ? undefined : new RowReader("kv", row).text("value");
  }

  private setKv(key: string, value: string): void {
    this.db
      .prepare("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
      .run(key, value);
  }

  highestSequence(channel: string): number {
    return Number(this.getKv(`sequence:${channel}`) ?? "0");
  }

  /** The last accepted channel pointer (its exact text) and the sequence it carried. */
  acceptPointer(channel: string, sequence: number, text: string): void {
    this.db.transaction(() => {
      this.setKv(`sequence:${channel}`, String(sequence));
      this.setKv(`pointer:${channel}`, text);
    })();
  }

  lastPointerText(channel: string): string | undefined {
    return this.getKv(`pointer:${channel}`);
  }

  setLastCheck(check: LastCheck): void {
    this.setKv("lastCheck", JSON.stringify(check));
  }

  lastCheck(): LastCheck | undefined {
    const v = this.getKv("lastCheck");
    return v === undefined ? undefined : parseLastCheck(v);
  }

  setPreviousVersion(version: string | null): void {
    if (version === null) this.db.prepare("DELETE FROM kv WHERE key = 'previousVersion'").run();
    else this.setKv("previousVersion", version);
  }

  acceptKeysDocument(version: number, text: string): void {
    this.setKv(`keys:${String(version).padStart(8, "0")}`, text);
  }

  /** Accepted keys documents, in chain order. */
  keysDocuments(): { version: number; text: string }[] {
    return this.db
      .prepare("SELECT key, value FROM kv WHERE key LIKE 'keys:%' ORDER BY key")
      .all()
      .map((raw) => {
        const r = new RowReader("kv", raw);
        const version = Number(r.text("key").slice(5));
        if (!Number.isSafeInteger(version)) throw r.invalidValue("key", "keys:<version>");
        return { version, text: r.text("value") };
      });
  }

  /** The publisher's withdrawal list of `name`, as accepted (exact signed text). */
  acceptWithdrawals(name: string, sequence: number, text: string): void {
    this.db
      .prepare(
        `INSERT INTO withdrawals (name, sequence, list_text, accepted_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET sequence = excluded.sequence, list_text = excluded.list_text,
           accepted_at = excluded.accepted_at`,
      )
      .run(name, sequence, text, this.stamp());
  }

  withdrawals(name: string): StoredWithdrawals | undefined {
    return optionalRow(
      this.db.prepare("SELECT sequence, list_text AS text, accepted_at AS acceptedAt FROM withdrawals WHERE name = ?").get(name),
      parseWithdrawalsRow,
    );
  }

  /** The technician's hold (`edge-agent hold`), or undefined. */
  setHold(hold: StoredHold | null): void {
    if (hold === null) this.db.prepare("DELETE FROM kv WHERE key = 'hold'").run();
    else this.setKv("hold", JSON.stringify(hold));
  }

  hold(): StoredHold | undefined {
    const v = this.getKv("hold");
    return v === undefined ? undefined : parseHold(v);
  }

  previousVersion(): string | undefined {
    return this.getKv("previousVersion");
  }

  /** Adds serving time the daemon watched to `version`'s totals (one row per version, created on first use). */
  addServingTime(version: string, healthyMs: number, unhealthyMs: number): void {
    const at = this.stamp();
    this.db
      .prepare(
        `INSERT INTO serving_time (version, healthy_ms, unhealthy_ms, first_at, last_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (version) DO UPDATE SET healthy_ms = healthy_ms + excluded.healthy_ms,
           unhealthy_ms = unhealthy_ms + excluded.unhealthy_ms, last_at = excluded.last_at`,
      )
      .run(version, Math.round(healthyMs), Math.round(unhealthyMs), at, at);
  }

  /**
   * Every version's serving time. A journal the daemon has not migrated yet
   * (the status CLI opens it read-only) has no such table: nothing counted.
   */
  servingTime(): ServingTimeRow[] {
    const table = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'serving_time'").get();
    if (table === undefined) return [];
    return this.db
      .prepare(
        `SELECT version, healthy_ms AS healthyMs, unhealthy_ms AS unhealthyMs, first_at AS firstAt, last_at AS lastAt
         FROM serving_time ORDER BY version`,
      )
      .all()
      .map(parseServingTimeRow);
  }

  /**
   * Per version, how often the device left it because it failed: update attempts to it that
   * ended rolled back, and operator rollbacks away from it that took effect.
   */
  rollbacksByVersion(): RollbackCount[] {
    return this.db
      .prepare(
        `SELECT version, SUM(n) AS count, MAX(at) AS lastAt FROM (
           SELECT to_version AS version, COUNT(*) AS n, MAX(finished_at) AS at FROM attempts
             WHERE kind = 'update' AND result = 'rolled_back' GROUP BY to_version
           UNION ALL
           SELECT from_version AS version, COUNT(*) AS n, MAX(finished_at) AS at FROM attempts
             WHERE kind = 'rollback' AND result = 'succeeded' AND from_version IS NOT NULL GROUP BY from_version
         ) GROUP BY version ORDER BY version`,
      )
      .all()
      .map(parseRollbackCount);
  }
}

function optionalRow<T>(raw: unknown, parse: (raw: unknown) => T): T | undefined {
  return raw === undefined ? undefined : parse(raw);
}
