import type { AttemptJson } from "../../shared/attempt-json.js";
import type { AttemptRow } from "../state/store.js";

/** A journal row as every surface shows it (see shared/attempt-json.ts); the raw release text stays in the journal. */
export function attemptJson(row: AttemptRow): AttemptJson {
  return {
    id: row.id,
    kind: row.kind,
    source: row.source,
    fromVersion: row.fromVersion,
    toVersion: row.toVersion,
    releaseDigest: row.releaseDigest,
    phase: row.phase,
    result: row.result,
    errorCode: row.errorCode,
    error: row.errorMessage,
    rollbackErrorCode: row.rollbackErrorCode,
    rollbackError: row.rollbackErrorMessage,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    durationMs: row.finishedAt ? Date.parse(row.finishedAt) - Date.parse(row.startedAt) : null,
    bytesDownloaded: row.bytesDownloaded,
    delivery: row.delivery,
    deltaFrom: row.deltaFrom,
    deltaFallback: row.deltaFallbackCode ? { code: row.deltaFallbackCode, message: row.deltaFallbackMessage ?? "" } : null,
    bytesSaved: row.bytesSaved,
    handover: row.handover ? { outcome: row.handover, reason: row.handoverReason, detail: row.handoverDetail } : null,
  };
}

/** The same, for a reply that may carry no attempt. */
export function attemptJsonOrNull(row: AttemptRow | undefined): AttemptJson | null {
  return row ? attemptJson(row) : null;
}
