import type { WantedDownload } from "../install/downloads-janitor.js";
import { isPastActivation, type Phase } from "../state/phases.js";
import type { AttemptRow } from "../state/store.js";

/**
 * What an attempt still needs from downloads/. Pure. An open attempt before
 * staging is done needs its bundle or delta, partial or finished. One that
 * failed before activation may be retried, so its resumable partials stay
 * (until a check finds the channel has moved on). Anything else, succeeded,
 * rolled back, superseded, deny-listed or already staged, needs nothing.
 */
export function downloadsWanted(attempt: AttemptRow, name: string, denied: boolean): WantedDownload | undefined {
  if (attempt.kind !== "update" || denied) return undefined;
  const deltaFrom = attempt.deltaFallbackCode ? null : attempt.fromVersion;
  const base = { name, version: attempt.toVersion, deltaFrom };
  if (attempt.result === null) return needsArtifacts(attempt.phase) ? base : undefined;
  return attempt.result === "failed" ? { ...base, partialOnly: true } : undefined;
}

function needsArtifacts(phase: Phase): boolean {
  // Validating and waiting, the version is staged: the bundle has gone.
  return phase !== "validating" && phase !== "waiting" && !isPastActivation(phase);
}
