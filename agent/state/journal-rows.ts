import type { ErrorCode } from "../../shared/errors.js";
import type { AttemptResult, Phase } from "./phases.js";
import { parseStoredJson, RowReader } from "./rows.js";

/** The journal's rows as the agent sees them, and the parsers that check each one read back. */

export type AttemptKind = "update" | "rollback";

export interface AttemptRow {
  id: number;
  kind: AttemptKind;
  source: string;
  fromVersion: string | null;
  toVersion: string;
  releaseJson: string | null;
  releaseDigest: string | null;
  phase: Phase;
  result: AttemptResult | null;
  errorCode: ErrorCode | null;
  errorMessage: string | null;
  rollbackErrorCode: ErrorCode | null;
  rollbackErrorMessage: string | null;
  bytesDownloaded: number;
  /** How the files arrived: the bundle or a delta from `deltaFrom`; null until chosen and for rollbacks. */
  delivery: "bundle" | "delta" | null;
  deltaFrom: string | null;
  /** Why an offered delta was not used, when it was not. */
  deltaFallbackCode: ErrorCode | null;
  deltaFallbackMessage: string | null;
  /** Bundle size minus delta size, once a delta rebuilt the version. */
  bytesSaved: number;
  /** Hand-over mode: how the version took over; null in restart mode and before the restart. */
  handover: HandoverRecord["outcome"] | null;
  handoverReason: HandoverRecord["reason"];
  handoverDetail: string | null;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export const HANDOVER_OUTCOMES = ["switched", "switched-back", "kept", "cold", "skipped"] as const;

export interface HandoverRecord {
  outcome: (typeof HANDOVER_OUTCOMES)[number];
  /** Why it restarted in place instead (`skipped`). */
  reason: "MEMORY_LOW" | "MEMORY_PRESSURE" | null;
  detail: string | null;
}

export interface PhaseEntry {
  phase: Phase;
  at: string;
}

export interface VersionRow {
  version: string;
  releaseJson: string;
  releaseDigest: string;
  stagedAt: string;
}

export interface DeniedRow {
  version: string;
  releaseDigest: string | null;
  errorCode: ErrorCode;
  reason: string;
  deniedAt: string;
}

export interface LastCheck {
  at: string;
  outcome: string;
  errorCode?: ErrorCode;
  error?: string;
}

export type NewAttempt = Pick<
  AttemptRow,
  "kind" | "source" | "fromVersion" | "toVersion" | "releaseJson" | "releaseDigest" | "phase"
>;

const RESULTS: readonly AttemptResult[] = ["succeeded", "rolled_back", "failed", "superseded"];

export function parseAttemptRow(raw: unknown): AttemptRow {
  const r = new RowReader("attempts", raw);
  return {
    id: r.integer("id"),
    kind: r.oneOf("kind", ["update", "rollback"]),
    source: r.text("source"),
    fromVersion: r.textOrNull("fromVersion"),
    toVersion: r.text("toVersion"),
    releaseJson: r.textOrNull("releaseJson"),
    releaseDigest: r.textOrNull("releaseDigest"),
    phase: r.phase("phase"),
    result: r.oneOfOrNull("result", RESULTS),
    errorCode: r.errorCodeOrNull("errorCode"),
    errorMessage: r.textOrNull("errorMessage"),
    rollbackErrorCode: r.errorCodeOrNull("rollbackErrorCode"),
    rollbackErrorMessage: r.textOrNull("rollbackErrorMessage"),
    bytesDownloaded: r.integer("bytesDownloaded"),
    delivery: r.oneOfOrNull("delivery", ["bundle", "delta"]),
    deltaFrom: r.textOrNull("deltaFrom"),
    deltaFallbackCode: r.errorCodeOrNull("deltaFallbackCode"),
    deltaFallbackMessage: r.textOrNull("deltaFallbackMessage"),
    bytesSaved: r.integer("bytesSaved"),
    handover: r.oneOfOrNull("handover", HANDOVER_OUTCOMES),
    handoverReason: r.oneOfOrNull("handoverReason", ["MEMORY_LOW", "MEMORY_PRESSURE"]),
    handoverDetail: r.textOrNull("handoverDetail"),
    startedAt: r.text("startedAt"),
    updatedAt: r.text("updatedAt"),
    finishedAt: r.textOrNull("finishedAt"),
  };
}

export function parsePhaseEntry(raw: unknown): PhaseEntry {
  const r = new RowReader("phase_log", raw);
  return { phase: r.phase("phase"), at: r.text("at") };
}

export function parseVersionRow(raw: unknown): VersionRow {
  const r = new RowReader("versions", raw);
  return {
    version: r.text("version"),
    releaseJson: r.text("releaseJson"),
    releaseDigest: r.text("releaseDigest"),
    stagedAt: r.text("stagedAt"),
  };
}

export function parseDeniedRow(raw: unknown): DeniedRow {
  const r = new RowReader("denied", raw);
  return {
    version: r.text("version"),
    releaseDigest: r.textOrNull("releaseDigest"),
    errorCode: r.errorCode("errorCode"),
    reason: r.text("reason"),
    deniedAt: r.text("deniedAt"),
  };
}

export interface StoredWithdrawals {
  sequence: number;
  text: string;
  acceptedAt: string;
}

export function parseWithdrawalsRow(raw: unknown): StoredWithdrawals {
  const r = new RowReader("withdrawals", raw);
  return { sequence: r.integer("sequence"), text: r.text("text"), acceptedAt: r.text("acceptedAt") };
}

export function parseLastCheck(text: string): LastCheck {
  const r = new RowReader("kv lastCheck", parseStoredJson("lastCheck", text));
  const check: LastCheck = { at: r.text("at"), outcome: r.text("outcome") };
  const code = r.optional("errorCode", () => r.errorCode("errorCode"));
  const error = r.optional("error", () => r.text("error"));
  if (code !== undefined) check.errorCode = code;
  if (error !== undefined) check.error = error;
  return check;
}

export interface StoredHold {
  reason?: string;
  at: string;
}

export function parseHold(text: string): StoredHold {
  const r = new RowReader("kv hold", parseStoredJson("hold", text));
  const reason = r.optional("reason", () => r.text("reason"));
  return reason === undefined ? { at: r.text("at") } : { reason, at: r.text("at") };
}

/** Serving time the daemon counted for one version (agent/telemetry/serving-accountant.ts). */
export interface ServingTimeRow {
  version: string;
  healthyMs: number;
  unhealthyMs: number;
  firstAt: string;
  lastAt: string;
}

export function parseServingTimeRow(raw: unknown): ServingTimeRow {
  const r = new RowReader("serving_time", raw);
  return {
    version: r.text("version"),
    healthyMs: r.integer("healthyMs"),
    unhealthyMs: r.integer("unhealthyMs"),
    firstAt: r.text("firstAt"),
    lastAt: r.text("lastAt"),
  };
}

/** Times the device left a version because it failed: rolled back automatically, or by an operator. */
export interface RollbackCount {
  version: string;
  count: number;
  lastAt: string | null;
}

export function parseRollbackCount(raw: unknown): RollbackCount {
  const r = new RowReader("attempts rollbacks", raw);
  return { version: r.text("version"), count: r.integer("count"), lastAt: r.textOrNull("lastAt") };
}
