import { EdgeError } from "../../shared/errors.js";

/**
 * When a staged rollout stops by itself: each device counts once, by its newest
 * final result for the release (a device that failed and then succeeded on a
 * retry counts as succeeded). No I/O here.
 */
export type DeviceOutcome = "succeeded" | "failed";

export interface HaltPolicy {
  /** Failure share (0-1) that must be exceeded, strictly, to halt. */
  maxFailureRate: number;
  /** Reports needed before the share means anything. */
  minDevices: number;
}

export interface DeviceResult {
  outcome: DeviceOutcome;
  at: string;
}

export type Results = Map<string, DeviceResult>;

export interface Tally {
  reported: number;
  failed: number;
  succeeded: number;
}

export interface HaltDecision {
  halt: boolean;
  tally: Tally;
  /** failed / reported; 0 before any report. */
  failureRate: number;
}

export function outcomeOfEvent(type: string): DeviceOutcome | undefined {
  if (type === "succeeded") return "succeeded";
  if (type === "failed" || type === "rolled_back") return "failed";
  return undefined;
}

/**
 * Records a device event for model `name` at `version`; returns whether it
 * changed the results. Events for other models or versions and non-final events
 * are ignored; an older event arriving late does not overwrite a newer result.
 * An event without a name (agents before events carried it) counts.
 */
export function recordEvent(
  results: Results,
  name: string,
  version: string,
  event: { deviceId: string; name?: string; type: string; version: string; at: string },
): boolean {
  if (event.version !== version || (event.name !== undefined && event.name !== name)) return false;
  const outcome = outcomeOfEvent(event.type);
  if (!outcome) return false;
  const known = results.get(event.deviceId);
  if (known && Date.parse(event.at) < Date.parse(known.at)) return false;
  if (known && known.outcome === outcome && known.at === event.at) return false;
  results.set(event.deviceId, { outcome, at: event.at });
  return true;
}

export function tally(results: Results): Tally {
  let failed = 0;
  for (const r of results.values()) if (r.outcome === "failed") failed++;
  return { reported: results.size, failed, succeeded: results.size - failed };
}

export function decideHalt(results: Results, policy: HaltPolicy): HaltDecision {
  const t = tally(results);
  const failureRate = t.reported === 0 ? 0 : t.failed / t.reported;
  return { halt: t.reported >= policy.minDevices && failureRate > policy.maxFailureRate, tally: t, failureRate };
}

/** "0.25" or "25%"; a share from 0 to 1 (halting at 100 % failures would never trigger). */
export function parseFailureRate(text: string): number {
  const trimmed = text.trim();
  const percent = trimmed.endsWith("%");
  const n = Number(percent ? trimmed.slice(0, -1) : trimmed);
  const rate = percent ? n / 100 : n;
  if (trimmed === "" || trimmed === "%" || !Number.isFinite(rate) || rate < 0 || rate >= 1) {
    throw new EdgeError(
      "USAGE",
      `--halt-on-failures must be a failure share from 0 to below 1, or a percentage below 100% (found ${JSON.stringify(text)})`,
    );
  }
  return rate;
}
