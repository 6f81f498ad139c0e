import { checkPolicy, type PolicyInput } from "./device-policy.js";
import { type Decision, type PlanInput, planUpdate } from "./planner.js";

/** Failed pre-activation attempts at one version are retried after 1 min, 2 min, ... up to 6 h. */
const RETRY_BASE_MS = 60_000;
const RETRY_CAP_MS = 6 * 3600_000;

export type CheckInput = PolicyInput & Omit<PlanInput, "targetVersion" | "activeVersion" | "retryBaseMs" | "retryCapMs">;

/**
 * What a channel check does with the release it found. Pure. The device's
 * policy (hold, compatibility, rollout) skips it unless it is already active;
 * then the planner decides (up to date, deny-listed, backing off, busy).
 */
export function decideCheck(input: CheckInput): Decision {
  const version = input.release.version;
  const skip = checkPolicy(input);
  if (skip && input.activeVersion !== version) return { action: "none", ...skip };
  return planUpdate({
    targetVersion: version,
    activeVersion: input.activeVersion,
    denied: input.denied,
    failures: input.failures,
    running: input.running,
    now: input.now,
    retryBaseMs: RETRY_BASE_MS,
    retryCapMs: RETRY_CAP_MS,
  });
}
