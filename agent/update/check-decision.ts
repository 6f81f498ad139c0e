import type { ChannelPointer, ReleaseManifest } from "../../shared/manifest.js";
import { type WithdrawalEntry, type WithdrawalList, withdrawalOf } from "../../shared/withdrawals.js";
import { refuseWithdrawnVersion } from "../sources/withdrawal-intake.js";
import { checkPolicy, type PolicyInput } from "./device-policy.js";
import { type Decision, type PlanInput, planUpdate } from "./planner.js";

export interface CheckDecisionInput
  extends Omit<PolicyInput, "pointer" | "hold">,
    Omit<PlanInput, "targetVersion" | "activeWithdrawn"> {
  /** `hold: true` in the config. */
  configHold: boolean;
  /** The technician's `edge-agent hold`. */
  operatorHold: { reason?: string } | undefined;
  release: ReleaseManifest;
  /** The channel's pointer; undefined for a pinned release, whose rollout share does not apply. */
  pointer: ChannelPointer | undefined;
  withdrawals: WithdrawalList | undefined;
}

export interface CheckDecision {
  decision: Decision;
  /** Set when the active version is withdrawn with `move`: an install is the move off it. */
  leaving?: WithdrawalEntry;
}

/**
 * What one channel check decides, from verified inputs only. Pure.
 *
 * A withdrawn target is refused outright (VERSION_WITHDRAWN). When the active
 * version is withdrawn with `move`, the channel's release is taken even if
 * older and whatever its rollout share says (the share stages a new release;
 * it must not keep a device on a withdrawn one); holds, compatibility, the
 * deny-list and retry backoff still apply.
 */
export function decideCheck(input: CheckDecisionInput): CheckDecision {
  const version = input.release.version;
  if (version !== input.activeVersion) refuseWithdrawnVersion(input.withdrawals, version, "the channel's release");
  const withdrawn = withdrawalOf(input.withdrawals, input.activeVersion);
  const leaving = withdrawn?.action === "move" && version !== input.activeVersion ? withdrawn : undefined;
  const hold: PolicyInput["hold"] = input.configHold
    ? { source: "config" }
    : input.operatorHold
      ? { source: "operator", reason: input.operatorHold.reason }
      : undefined;
  const skip = checkPolicy({ ...input, hold, pointer: leaving ? undefined : input.pointer });
  // A hold or a rollout share would read "1.2.0 waits" for a version that is deny-listed and never will be installed.
  const denied = input.denied !== undefined && input.activeVersion !== version;
  const decision: Decision =
    skip && input.activeVersion !== version && !denied
      ? { action: "none", ...skip }
      : planUpdate({ ...input, targetVersion: version, activeWithdrawn: withdrawn });
  return leaving ? { decision, leaving } : { decision };
}
