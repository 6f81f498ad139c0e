import { describe, expect, it } from "vitest";
import { chooseDelivery, type DeliveryInput, describeDelivery, fallBackToBundle } from "../../agent/update/delivery.js";
import { EdgeError } from "../../shared/errors.js";
import type { ReleaseManifest } from "../../shared/manifest.js";

const RELEASE: ReleaseManifest = {
  _type: "edgepull/release",
  specVersion: 1,
  name: "m",
  version: "2.0.0",
  createdAt: "2025-01-01T00:00:00Z",
  files: [],
  bundle: { url: "releases/m/2.0.0/m-2.0.0.tar.gz", size: 1000, sha256: "a".repeat(64) },
  deltas: [{ from: "1.0.0", url: "releases/m/2.0.0/deltas/1.0.0.epdelta", size: 100, sha256: "b".repeat(64) }],
} as ReleaseManifest;

const BASE: DeliveryInput = {
  release: { manifest: RELEASE, origin: "repository" },
  activeVersion: "1.0.0",
  deltasEnabled: true,
  targetStaged: false,
  baseStaged: true,
  fallback: undefined,
};

describe("chooseDelivery", () => {
  it.each([
    ["a delta from the active version, offered, smaller and its base staged", {}, "delta", "delta-offered"],
    ["the target is staged already", { targetStaged: true }, "staged", "already-staged"],
    [
      "staged wins over a sideload",
      { targetStaged: true, release: { manifest: RELEASE, origin: "sideload" } },
      "staged",
      "already-staged",
    ],
    ["a sideload, even with a delta offered", { release: { manifest: RELEASE, origin: "sideload" } }, "sideload", "sideload"],
    ["a first install", { activeVersion: null }, "bundle", "first-install"],
    ["deltas off", { deltasEnabled: false }, "bundle", "deltas-disabled"],
    ["no delta from the active version", { activeVersion: "0.9.0" }, "bundle", "no-delta-offered"],
    [
      "a delta no smaller than the bundle",
      { release: { manifest: { ...RELEASE, deltas: [{ ...RELEASE.deltas![0]!, size: 1000 }] }, origin: "repository" } },
      "bundle",
      "delta-not-smaller",
    ],
    [
      "the delta given up earlier in this attempt",
      { fallback: { code: "MEMORY_LOW", message: "m" } },
      "bundle",
      "delta-fallback",
    ],
    ["the base is not staged here", { baseStaged: false }, "bundle", "base-not-staged"],
    ["no release in the journal", { release: undefined }, "bundle", "no-release"],
  ] as const)("%s", (_why, change, kind, reason) => {
    const delivery = chooseDelivery({ ...BASE, ...(change as Partial<DeliveryInput>) });
    expect(delivery).toMatchObject({ kind, reason });
    expect(describeDelivery(delivery)).toMatch(/^[a-z].+: .+/);
  });

  it("the delta chosen is the one offered from the active version", () => {
    const delivery = chooseDelivery(BASE);
    expect(delivery.kind === "delta" && delivery.offer).toEqual(RELEASE.deltas?.[0]);
  });

  it("a sideload takes its own file", () => {
    const delivery = chooseDelivery({ ...BASE, release: { manifest: RELEASE, origin: "sideload" } });
    expect(delivery.kind === "sideload" && delivery.bundle).toEqual(RELEASE.bundle);
  });

  it("falling back carries the reason on", () => {
    const fallback = fallBackToBundle(new EdgeError("DELTA_BASE_MISMATCH", "base differs"));
    expect(fallback).toEqual({
      kind: "bundle",
      reason: "delta-fallback",
      fallback: { code: "DELTA_BASE_MISMATCH", message: "base differs" },
    });
    expect(describeDelivery(fallback)).toContain("DELTA_BASE_MISMATCH");
  });
});
