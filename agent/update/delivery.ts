import type { EdgeError, ErrorCode } from "../../shared/errors.js";
import type { ArtifactRef, DeltaRef, ReleaseManifest } from "../../shared/manifest.js";
import type { ReleaseOrigin } from "../sources/sideload.js";

/**
 * How an attempt's files arrive, chosen once when the attempt begins (or is
 * resumed) and carried in its phases from then on:
 *   staged    the version is already in versions/: nothing to fetch or build
 *   sideload  the sideload's own local file, copied; never the network
 *   delta     a delta from the active version, rebuilt against its files
 *   bundle    the full bundle from the repository
 * A delta that cannot be used becomes a bundle delivery with the reason
 * (`fallBackToBundle`), recorded in the journal and carried on in memory.
 */
export type Delivery =
  | { kind: "staged"; reason: "already-staged" }
  | { kind: "sideload"; reason: "sideload"; bundle: ArtifactRef }
  | { kind: "delta"; reason: "delta-offered"; offer: DeltaRef }
  | { kind: "bundle"; reason: BundleReason; fallback?: DeltaFallback };

export type BundleReason =
  | "no-release"
  | "first-install"
  | "deltas-disabled"
  | "no-delta-offered"
  | "delta-not-smaller"
  | "base-not-staged"
  | "delta-fallback";

export interface DeltaFallback {
  code: ErrorCode;
  message: string;
}

export type DeltaDelivery = Extract<Delivery, { kind: "delta" }>;
/** What a bundle is extracted from (or, already staged, nothing at all). */
export type WholeDelivery = Exclude<Delivery, DeltaDelivery>;

export interface DeliveryInput {
  /** The release being installed and where it came from; undefined when the journal lost it. */
  release: { manifest: ReleaseManifest; origin: ReleaseOrigin } | undefined;
  /** The version active when the attempt began: the only base a delta may patch. */
  activeVersion: string | null;
  deltasEnabled: boolean;
  /** The target version is recorded and its folder is in versions/. */
  targetStaged: boolean;
  /** The active version is recorded and its folder is in versions/. */
  baseStaged: boolean;
  /** The delta was given up earlier in this attempt (known from the journal only when resuming). */
  fallback: DeltaFallback | undefined;
}

/** The delivery for an attempt, and why. Pure. */
export function chooseDelivery(input: DeliveryInput): Delivery {
  const { release, activeVersion: from } = input;
  // Without its release the attempt cannot install anything; its download step says so.
  if (!release) return { kind: "bundle", reason: "no-release" };
  if (input.targetStaged) return { kind: "staged", reason: "already-staged" };
  // A sideload never touches the network (the device may have none), so it never takes a delta.
  if (release.origin === "sideload") return { kind: "sideload", reason: "sideload", bundle: release.manifest.bundle };
  if (!from) return { kind: "bundle", reason: "first-install" };
  if (!input.deltasEnabled) return { kind: "bundle", reason: "deltas-disabled" };
  const offer = release.manifest.deltas?.find((d) => d.from === from);
  if (!offer) return { kind: "bundle", reason: "no-delta-offered" };
  if (offer.size >= release.manifest.bundle.size) return { kind: "bundle", reason: "delta-not-smaller" };
  if (input.fallback) return { kind: "bundle", reason: "delta-fallback", fallback: input.fallback };
  if (!input.baseStaged) return { kind: "bundle", reason: "base-not-staged" };
  return { kind: "delta", reason: "delta-offered", offer };
}

/** The delta is given up for this attempt: the bundle comes next, and why travels with it. */
export function fallBackToBundle(error: EdgeError): WholeDelivery {
  return {
    kind: "bundle",
    reason: "delta-fallback",
    fallback: { code: error.code, message: error.message },
  };
}

const REASON_TEXT: Record<Delivery["reason"], string> = {
  "already-staged": "the version is already staged here",
  sideload: "a sideload installs its own file",
  "delta-offered": "a delta from the active version is offered, smaller than the bundle, and its base is staged here",
  "no-release": "the journal holds no release for this attempt",
  "first-install": "no active version to patch",
  "deltas-disabled": "deltas are disabled (delta.enabled)",
  "no-delta-offered": "the release offers no delta from the active version",
  "delta-not-smaller": "the delta from the active version is not smaller than the bundle",
  "base-not-staged": "the active version is not staged here",
  "delta-fallback": "the delta was given up",
};

/** One line for the log: what arrives and why. */
export function describeDelivery(delivery: Delivery): string {
  const what = delivery.kind === "delta" ? `delta from ${delivery.offer.from}` : delivery.kind;
  const fallback = delivery.kind === "bundle" && delivery.fallback ? ` (${delivery.fallback.code})` : "";
  return `${what}: ${REASON_TEXT[delivery.reason]}${fallback}`;
}
