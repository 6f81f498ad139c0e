import type { DeviceEvent } from "../../shared/topics.js";
import type { AttemptRow } from "../state/store.js";

/**
 * The fleet event a journaled phase change means, if any. Pure: the journal row
 * holds everything an event carries.
 */
export function eventForAttempt(
  row: AttemptRow,
  now: Date,
): Omit<DeviceEvent, "schema" | "deviceId" | "at" | "name"> | undefined {
  const type = eventType(row);
  if (!type) return undefined;
  return {
    type,
    version: row.toVersion,
    fromVersion: row.fromVersion,
    attempt: row.id,
    errorCode: row.errorCode,
    error: row.errorMessage,
    durationMs: Math.max(0, now.getTime() - Date.parse(row.startedAt)),
    bytes: row.bytesDownloaded,
  };
}

function eventType(row: AttemptRow): DeviceEvent["type"] | undefined {
  switch (row.phase) {
    case "downloading":
      return "update_started";
    case "staging":
      return "downloaded";
    case "activating":
      // A manual rollback begins here; an update reaching it has already announced its start.
      return row.kind === "rollback" ? "update_started" : undefined;
    case "starting":
      return "activated";
    case "succeeded":
      return "succeeded";
    case "rolled_back":
      return "rolled_back";
    case "failed":
      return "failed";
    default:
      return undefined;
  }
}
