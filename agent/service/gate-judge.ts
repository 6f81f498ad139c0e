import { fmt, type GateVerdict } from "./gate-eval.js";

/**
 * When probation with metric gates ends, and how: pure, from each gate's
 * latest verdict and its run of failed evaluations. A gate must pass at or
 * after the end of the window (its figure then covers the whole window); one
 * that has not yet (inconclusive, or failed fewer than failureLimit times in
 * a row) extends probation up to its maxExtensionSeconds, after which a
 * failure is a failure and no data is onNoDataAtLimit's call.
 */
export interface GatePolicy {
  name: string;
  /** Failed evaluations in a row that fail the update at once. */
  failureLimit: number;
  maxExtensionMs: number;
  /** `fail`: an inconclusive evaluation counts as a failed one. */
  onNoData: "inconclusive" | "fail";
  /** Still inconclusive when the extension is over: roll back, or keep the version and record it. */
  onNoDataAtLimit: "fail" | "hold";
}

export interface GateTrack {
  policy: GatePolicy;
  consecutiveFails: number;
  last: GateVerdict | undefined;
  evaluations: number;
}

export type ProbationDecision =
  | { type: "continue" }
  /** Every gate passed, or was held (inconclusive at the limit with onNoDataAtLimit "hold"). */
  | { type: "pass"; held: { gate: string; reason: string }[] }
  | { type: "fail"; gate: string; message: string };

export function newTrack(policy: GatePolicy): GateTrack {
  return { policy, consecutiveFails: 0, last: undefined, evaluations: 0 };
}

/** A pass ends a run of failures; an inconclusive evaluation neither ends nor extends one (unless onNoData is fail). */
export function recordVerdict(track: GateTrack, verdict: GateVerdict): GateTrack {
  const failed = verdict.kind === "fail" || (verdict.kind === "inconclusive" && track.policy.onNoData === "fail");
  const consecutiveFails = failed ? track.consecutiveFails + 1 : verdict.kind === "pass" ? 0 : track.consecutiveFails;
  return { ...track, consecutiveFails, last: verdict, evaluations: track.evaluations + 1 };
}

/** `elapsedMs` since probation began; `windowMs` is health.probationSeconds. */
export function judgeProbation(tracks: readonly GateTrack[], elapsedMs: number, windowMs: number): ProbationDecision {
  for (const t of tracks) {
    if (t.consecutiveFails >= t.policy.failureLimit && t.last) {
      return { type: "fail", gate: t.policy.name, message: failedMessage(t, t.last) };
    }
  }
  if (elapsedMs < windowMs) return { type: "continue" };
  const held: { gate: string; reason: string }[] = [];
  let pending = false;
  for (const t of tracks) {
    const last = t.last;
    if (last?.kind === "pass") continue;
    if (elapsedMs < windowMs + t.policy.maxExtensionMs) {
      pending = true;
      continue;
    }
    if (last?.kind === "fail" || (last && t.policy.onNoData === "fail") || t.policy.onNoDataAtLimit === "fail") {
      return { type: "fail", gate: t.policy.name, message: atLimitMessage(t, last) };
    }
    held.push({ gate: t.policy.name, reason: last?.kind === "inconclusive" ? last.reason : "never evaluated" });
  }
  return pending ? { type: "continue" } : { type: "pass", held };
}

function failedMessage(t: GateTrack, verdict: GateVerdict): string {
  const runs = t.consecutiveFails > 1 ? `, ${t.consecutiveFails} evaluations in a row` : "";
  if (verdict.kind === "fail") {
    return `gate "${t.policy.name}" failed: observed ${fmt(verdict.observed)}, threshold ${verdict.bound} (${fmt(verdict.samples)} samples${runs})`;
  }
  const reason = verdict.kind === "inconclusive" ? verdict.reason : "passed";
  return `gate "${t.policy.name}" failed: observed no data (${reason}), and onNoData is "fail"${runs}`;
}

function atLimitMessage(t: GateTrack, last: GateVerdict | undefined): string {
  const extension = `${fmt(t.policy.maxExtensionMs / 1000)} s`;
  if (last?.kind === "fail") return `${failedMessage(t, last)}, still at the end of probation plus ${extension}`;
  const reason = last?.kind === "inconclusive" ? last.reason : "never evaluated";
  return `gate "${t.policy.name}" failed: observed no data (${reason}) by the end of probation plus ${extension}, and onNoDataAtLimit is "fail"`;
}
