import type { ErrorCode } from "./errors.js";

/**
 * One update or rollback attempt, in the one JSON shape every surface uses:
 * `edge-agent history --json` (which adds `phases`), `check --json`,
 * `rollback --json`, `install --json`, `status --json` and the local
 * endpoint's `/status` (`attempt`, `lastUpdate`), and the MQTT device status
 * (`lastUpdate`). schemas/attempt.json is its JSON Schema. A failure is a
 * code and its message side by side (`errorCode`, `error`), as in the events.
 */
export interface AttemptJson {
  id: number;
  kind: "update" | "rollback";
  /** What started it: poll, push, cli, sideload, inbox, ... */
  source: string;
  fromVersion: string | null;
  toVersion: string;
  /** SHA-256 of the signed release the attempt installs; null for a rollback. */
  releaseDigest: string | null;
  phase: string;
  /** null while the attempt runs. */
  result: "succeeded" | "rolled_back" | "failed" | "superseded" | null;
  errorCode: ErrorCode | null;
  error: string | null;
  rollbackErrorCode: ErrorCode | null;
  rollbackError: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  bytesDownloaded: number;
  /** How the files arrived; null before the download began and for rollbacks. */
  delivery: "bundle" | "delta" | null;
  deltaFrom: string | null;
  /** Why an offered delta was not used: the bundle came instead. */
  deltaFallback: { code: ErrorCode; message: string } | null;
  bytesSaved: number;
  /**
   * Hand-over mode: how the new version took over. `switched`: started beside the serving one,
   * took requests from the next one on; `skipped`: memory was short (`reason`), restarted in place
   * with 503 + Retry-After while loading; `cold`: nothing served before; `kept`: it already served.
   * null in restart mode.
   */
  handover: { outcome: string; reason: "MEMORY_LOW" | "MEMORY_PRESSURE" | null; detail: string | null } | null;
}
