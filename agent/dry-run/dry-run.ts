import type { ReleaseManifest } from "../../shared/manifest.js";
import type { AgentConfig } from "../config.js";
import { versionDir } from "../install/layout.js";
import { componentLogger } from "../logging.js";
import type { Clock } from "../ports.js";
import { findBundle, type ReleaseOrigin, verifySideload } from "../sources/sideload.js";
import { refuseWithdrawnVersion } from "../sources/withdrawal-intake.js";
import { exists } from "../update/artifacts.js";
import type { AttemptFacts } from "../update/attempt-state.js";
import { decideForTarget, fetchChannelTarget } from "../update/channel-decision.js";
import { chooseDelivery } from "../update/delivery.js";
import type { Decision } from "../update/planner.js";
import { type DryStageDeps, type DryStageOutcome, dryStage } from "./dry-stage.js";
import { type DryWorld, openDryWorld } from "./dry-world.js";

/**
 * `install --dry-run` and `check --dry-run`: every check an attempt makes up
 * to and including staging verification, in a private folder that is removed
 * afterwards. Nothing is recorded: the journal, downloads/, staging/,
 * versions/ and `current` are left exactly as they were (see dry-world.ts).
 */
export interface DryRunReport {
  dryRun: true;
  ok: boolean;
  version: string;
  activeVersion: string | null;
  /** What a real run would do next (or why it would do nothing). */
  wouldDo: string;
  /** install: the bundle file found. */
  bundle?: string;
  /** check: the channel decision and the pointer's sequence. */
  decision?: Decision;
  sequence?: number;
  /** Absent when nothing would be installed. */
  staging?: DryStageOutcome;
}

export interface DryRunDeps extends Omit<DryStageDeps, "world"> {
  config: AgentConfig;
  clock: Clock;
}

export async function dryRunInstall(deps: DryRunDeps, path: string): Promise<DryRunReport> {
  return withWorld(deps, async (world) => {
    const bundle = await findBundle(path);
    const verified = await verifySideload(bundle, world.keyRing.current(), deps.config.name, deps.clock.now());
    const version = verified.release.version;
    refuseWithdrawnVersion(world.withdrawals.current(), version, "the bundle");
    const base = { dryRun: true as const, version, activeVersion: world.active ?? null, bundle };
    if (world.active === version) return { ...base, ok: true, wouldDo: `nothing: ${version} is already active` };
    const staging = await stage(deps, world, "sideload", verified);
    return { ...base, ok: staging.ok, wouldDo: nextStep(deps.config, world, version, staging), staging };
  });
}

export async function dryRunCheck(deps: DryRunDeps): Promise<DryRunReport> {
  return withWorld(deps, async (world) => {
    // The channel decision reads the real `current`; only the steps work in the private folder.
    const found = await fetchChannelTarget({ ...world, layout: world.real }, undefined, deps.signal);
    const { decision } = decideForTarget(world, found, undefined);
    const base = {
      dryRun: true as const,
      version: found.version,
      activeVersion: found.active ?? null,
      decision,
      sequence: found.state.pointer.sequence,
    };
    if (decision.action === "none") {
      return { ...base, ok: decision.reason === "up-to-date", wouldDo: `nothing: ${decision.detail}` };
    }
    const target = { release: found.target.release, text: found.target.text, digest: found.target.digest };
    const staging = await stage(deps, world, "repository", target);
    return { ...base, ok: staging.ok, wouldDo: nextStep(deps.config, world, found.version, staging), staging };
  });
}

async function withWorld(deps: DryRunDeps, run: (world: DryWorld) => Promise<DryRunReport>): Promise<DryRunReport> {
  const world = await openDryWorld(deps.config, deps.logger, deps.clock);
  try {
    return await run(world);
  } finally {
    await world.dispose();
  }
}

async function stage(
  deps: DryRunDeps,
  world: DryWorld,
  origin: ReleaseOrigin,
  target: { release: ReleaseManifest; text: string; digest: string },
): Promise<DryStageOutcome> {
  const from = world.active ?? null;
  const isStaged = async (v: string) => world.store.getVersion(v) !== undefined && (await exists(versionDir(world.real, v)));
  const release = { manifest: target.release, origin };
  const delivery = chooseDelivery({
    release,
    activeVersion: from,
    deltasEnabled: deps.config.delta.enabled,
    targetStaged: await isStaged(target.release.version),
    baseStaged: from !== null && (await isStaged(from)),
    fallback: undefined,
  });
  const attempt: AttemptFacts = {
    id: 0,
    kind: "update",
    fromVersion: from,
    toVersion: target.release.version,
    release,
    releaseJson: target.text,
    releaseDigest: target.digest,
  };
  return dryStage({ ...deps, world, logger: componentLogger(deps.logger, "dry-run") }, attempt, delivery);
}

function nextStep(config: AgentConfig, world: DryWorld, version: string, staging: DryStageOutcome): string {
  if (!staging.ok) return `nothing: staging ${version} would fail (${staging.error?.code})`;
  const wait = config.maintenanceWindows.length > 0 ? "wait for a maintenance window, then " : "";
  return (
    `${wait}point current at ${version} (from ${world.active ?? "none"}), restart the service and watch its health ` +
    `for ${config.health.probationSeconds} s, rolling back on failure`
  );
}
