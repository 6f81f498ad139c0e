/**
 * One error type for the whole product. The `code` is what a technician sees in
 * `edge-agent status`, in MQTT status and in logs; the README lists every code
 * with what to do about it. Keep this union and the README table in step.
 */
export const ERROR_CODES = [
  // configuration and local input
  "CONFIG_INVALID",
  "USAGE",
  "KEY_INVALID",
  "MODEL_DIR_INVALID",
  "VERSION_INVALID",
  "VERSION_EXISTS",
  "RELEASE_NOT_FOUND",
  "NAME_MISMATCH",
  "FILE_NOT_REGULAR",
  "REPO_INVALID",
  "PORT_IN_USE",
  "PROMOTION_REFUSED",
  // signed metadata
  "METADATA_MALFORMED",
  "SIGNATURE_MISSING",
  "SIGNATURE_INVALID",
  "KEY_UNTRUSTED",
  "METADATA_EXPIRED",
  "SEQUENCE_REPLAY",
  "VERSION_DENIED",
  "URL_FORBIDDEN",
  "VERSION_WITHDRAWN",
  // transfer and bundle
  "HTTP_ERROR",
  "MQTT_ERROR",
  "DOWNLOAD_FAILED",
  "SIZE_MISMATCH",
  "DIGEST_MISMATCH",
  "BUNDLE_CORRUPT",
  "BUNDLE_TRUNCATED",
  "PATH_UNSAFE",
  "ENTRY_FORBIDDEN",
  "ENTRY_UNEXPECTED",
  "ENTRY_MISSING",
  "ENTRY_TOO_LARGE",
  "DISK_SPACE_LOW",
  "DOWNLOAD_TOO_LARGE",
  // deltas (the agent falls back to the full bundle on each of these)
  "DELTA_BASE_MISMATCH",
  "DELTA_FAILED",
  "MEMORY_LOW",
  // activation and service
  "ACTIVATION_FAILED",
  "RESTART_FAILED",
  "SERVICE_CRASHED",
  "HEALTH_TIMEOUT",
  "HEALTH_FAILED",
  "GATE_FAILED",
  "GATE_INCONCLUSIVE",
  "ROLLBACK_FAILED",
  "NO_PREVIOUS_VERSION",
  "AGENT_BUSY",
  "VERIFY_FAILED",
  "INTERRUPTED",
  "JOURNAL_INVALID",
  "VALIDATION_FAILED",
  "SHADOW_MISMATCH",
  // deny-list only: the version a technician rolled back from
  "OPERATOR_ROLLBACK",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class EdgeError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EdgeError";
    this.code = code;
  }
}

export function isEdgeError(value: unknown): value is EdgeError {
  return value instanceof EdgeError;
}

/** Wraps anything thrown into an EdgeError, keeping an existing code and chaining the cause. */
export function toEdgeError(value: unknown, fallback: ErrorCode = "INTERNAL"): EdgeError {
  if (value instanceof EdgeError) return value;
  const message = value instanceof Error ? value.message : String(value);
  // A full disk is never a bug, whoever met it first: a file write (ENOSPC) or the journal (SQLite's SQLITE_FULL).
  const code = (value as { code?: unknown } | null)?.code;
  if (code === "ENOSPC" || code === "SQLITE_FULL") {
    return new EdgeError("DISK_SPACE_LOW", `no space left on the device: ${message}`, { cause: value });
  }
  return new EdgeError(fallback, message, { cause: value });
}

/** `CODE: message`, the one line a CLI prints before a non-zero exit. */
export function describeError(value: unknown): string {
  const err = toEdgeError(value);
  return `${err.code}: ${err.message}`;
}

/** The `--json` form of a failure: `{"error": {"code", "message"}}` on stdout, so `| jq .error.code` works. */
export function errorJson(value: unknown): { error: { code: ErrorCode; message: string } } {
  const err = toEdgeError(value);
  return { error: { code: err.code, message: err.message } };
}
