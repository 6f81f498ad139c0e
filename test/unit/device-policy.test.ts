import { describe, expect, it } from "vitest";
import { checkPolicy, type PolicyInput } from "../../agent/update/device-policy.js";
import type { ChannelPointer, ReleaseManifest } from "../../shared/manifest.js";
import { rolloutBucket } from "../../shared/rollout.js";

const release = (compatibility?: ReleaseManifest["compatibility"]): ReleaseManifest =>
  ({ name: "m", version: "2.0.0", compatibility }) as ReleaseManifest;
const pointer = (rollout?: ChannelPointer["rollout"]): ChannelPointer => ({ version: "2.0.0", rollout }) as ChannelPointer;
const bucket = rolloutBucket("dev-1", "m", "2.0.0");
const base: PolicyInput = {
  deviceId: "dev-1",
  arch: "arm64",
  labels: ["jetson-orin"],
  hold: undefined,
  release: release(),
  pointer: pointer(),
  activeVersion: "1.0.0",
};

describe("checkPolicy", () => {
  it.each([
    ["no constraints", {}, undefined],
    ["held by the operator", { hold: { source: "operator" as const } }, "held"],
    ["matching arch (Debian alias)", { release: release({ arch: ["aarch64"] }) }, undefined],
    ["other arch", { release: release({ arch: ["x64"] }) }, "incompatible"],
    ["present label", { release: release({ labels: ["jetson-orin"] }) }, undefined],
    ["missing label", { release: release({ labels: ["camera-v2"] }) }, "incompatible"],
    ["inside the rollout", { pointer: pointer({ percent: Math.min(100, bucket + 1), paused: false }) }, undefined],
    ["outside the rollout", { pointer: pointer({ percent: Math.max(0, bucket - 1), paused: false }) }, "not-in-rollout"],
    ["a paused rollout", { pointer: pointer({ percent: 100, paused: true }) }, "rollout-paused"],
    [
      "a paused rollout the device already runs",
      { pointer: pointer({ percent: 0, paused: true }), activeVersion: "2.0.0" },
      undefined,
    ],
  ] as [string, Partial<PolicyInput>, string | undefined][])("%s", (_name, patch, reason) => {
    expect(checkPolicy({ ...base, ...patch })?.reason).toBe(reason);
  });
});
