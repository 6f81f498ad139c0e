import { normalizeArch } from "../../shared/arch-names.js";
import type { ChannelPointer, ReleaseManifest } from "../../shared/manifest.js";
import { inRollout, rolloutBucket } from "../../shared/rollout.js";

/**
 * Whether this device should take a release at all, before any byte moves.
 * Pure. A skip is not an error: status shows it as the last check's outcome.
 */
export type PolicySkip = {
  reason: "held" | "incompatible" | "not-in-rollout" | "rollout-paused";
  detail: string;
};

export interface PolicyInput {
  deviceId: string;
  arch: string;
  labels: string[];
  hold: { source: "config" | "operator"; reason?: string } | undefined;
  release: ReleaseManifest;
  /** The pointer's rollout applies only when the release is the one the pointer names (not a pinned one). */
  pointer: ChannelPointer | undefined;
  activeVersion: string | undefined;
}

export { normalizeArch };

export function checkPolicy(input: PolicyInput): PolicySkip | undefined {
  const { release } = input;
  if (input.hold) {
    return {
      reason: "held",
      detail: `updates are held (${input.hold.source}${input.hold.reason ? `: ${input.hold.reason}` : ""}); ${release.version} waits`,
    };
  }
  const arches = release.compatibility?.arch ?? [];
  if (arches.length > 0 && !arches.map(normalizeArch).includes(normalizeArch(input.arch))) {
    return {
      reason: "incompatible",
      detail: `${release.version} is built for ${arches.join(", ")}; this device is ${input.arch}`,
    };
  }
  const missing = (release.compatibility?.labels ?? []).filter((l) => !input.labels.includes(l));
  if (missing.length > 0) {
    return {
      reason: "incompatible",
      detail: `${release.version} needs device labels ${missing.join(", ")}, which this device does not have`,
    };
  }
  const rollout = input.pointer?.rollout;
  if (rollout && input.activeVersion !== release.version) {
    if (rollout.paused) {
      return { reason: "rollout-paused", detail: `the rollout of ${release.version} is paused` };
    }
    if (!inRollout(input.deviceId, release.name, release.version, rollout.percent)) {
      const bucket = rolloutBucket(input.deviceId, release.name, release.version);
      return {
        reason: "not-in-rollout",
        detail: `${release.version} is rolling out to ${rollout.percent} % of devices; this device's place is ${bucket.toFixed(1)} %`,
      };
    }
  }
  return undefined;
}
