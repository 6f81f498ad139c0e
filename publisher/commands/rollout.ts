import { EdgeError } from "../../shared/errors.js";
import type { ChannelPointer, RolloutPolicy } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import type { PrivateKeyInfo } from "../../shared/signature.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { readChannelPointer } from "../repo-files.js";
import { type AbortHow, type AbortTarget, abortTarget } from "../rollout/channel-history.js";
import type { HaltDecision, HaltPolicy } from "../rollout/halt-policy.js";
import { openEventWatch, type WatchEnd } from "../rollout/halt-watch.js";
import { writeChannelPointer } from "../rollout/pointer-writer.js";
import { refuseWithdrawn, withdrawnVersions } from "../withdraw/withdrawal-file.js";
import { validateNameAndVersion } from "./build.js";
import { channelNameProblem } from "./promote.js";

export const DEFAULT_WATCH_SECONDS = 600;

export type RolloutAction =
  | { kind: "percent"; percent: number; version?: string }
  | { kind: "pause" }
  | { kind: "resume" }
  | { kind: "abort"; to?: string };

export interface RolloutOptions {
  repoDir: string;
  name: string;
  channel: string;
  keyPath: string;
  action: RolloutAction;
  expiresInDays?: number;
  now?: Date;
  mqtt?: MqttSettings;
  /** Point the channel at a withdrawn version all the same (devices still refuse it). */
  force?: boolean;
}

export interface RolloutChange {
  pointer: ChannelPointer;
  path: string;
  /** The version the channel named before this change. */
  previousVersion: string | null;
  /** For abort: the version the channel left, and where the release it went back to came from. */
  abortedFrom?: { version: string; source: AbortTarget["source"] };
  mqtt?: { topic: string };
}

export interface HaltOptions {
  policy: HaltPolicy;
  watchMs: number;
  stopRequested: Promise<void>;
  onWarning: (text: string) => void;
  /** Called once the watch is subscribed and the share is set (tests publish events from here). */
  onWatching?: (change: RolloutChange) => void;
}

export interface HaltResult {
  change: RolloutChange;
  end: WatchEnd;
  decision: HaltDecision;
  /** Set when the rollout was halted: the abort's new pointer. */
  abort?: RolloutChange;
}

function policyOf(action: RolloutAction, current: ChannelPointer | undefined): RolloutPolicy | undefined {
  const now = current?.rollout;
  switch (action.kind) {
    case "percent":
      return action.percent >= 100 ? undefined : { percent: action.percent, paused: false };
    case "pause":
      return { percent: now?.percent ?? 100, paused: true };
    case "resume":
      return now && now.percent < 100 ? { percent: now.percent, paused: false } : undefined;
    case "abort":
      return undefined;
  }
}

/** Where an abort sends the channel: `--to`, or the last healthy release (channel-history.ts). */
async function abortDestination(opts: RolloutOptions, current: ChannelPointer, to: string | undefined): Promise<AbortTarget> {
  if (to === undefined) return abortTarget(opts.repoDir, current, await withdrawnVersions(opts.repoDir, opts.name));
  if (to === current.version) throw new EdgeError("USAGE", `--to ${to} is the version being aborted`);
  await refuseWithdrawn(opts.repoDir, opts.name, to, opts.force);
  return { version: to, source: "operator" };
}

async function applyAction(opts: RolloutOptions, key: PrivateKeyInfo, how: AbortHow = "abort"): Promise<RolloutChange> {
  const current = (await readChannelPointer(opts.repoDir, opts.name, opts.channel))?.value;
  const action = opts.action;
  const movesTo = action.kind === "percent" ? action.version : undefined;
  if (!current && movesTo === undefined) {
    throw new EdgeError(
      "RELEASE_NOT_FOUND",
      `channel ${opts.channel} of ${opts.name} has no pointer; publish it first (or give --percent with --version)`,
    );
  }
  let version = movesTo ?? (current as ChannelPointer).version;
  let abortedFrom: RolloutChange["abortedFrom"];
  if (action.kind === "abort") {
    const target = await abortDestination(opts, current as ChannelPointer, action.to);
    version = target.version;
    abortedFrom = { version: (current as ChannelPointer).version, source: target.source };
  } else if (action.kind === "percent") {
    // Widening the share of a withdrawn release, or moving to one, is refused; pause and resume are not.
    await refuseWithdrawn(opts.repoDir, opts.name, version, opts.force);
  }
  const written = await writeChannelPointer({
    repoDir: opts.repoDir,
    name: opts.name,
    channel: opts.channel,
    version,
    key,
    previous: current,
    rollout: policyOf(action, current),
    expiresInDays: opts.expiresInDays,
    now: opts.now,
    mqtt: opts.mqtt,
    aborted: abortedFrom ? { version: abortedFrom.version, by: how } : undefined,
  });
  const change: RolloutChange = { ...written, previousVersion: current?.version ?? null };
  if (abortedFrom) change.abortedFrom = abortedFrom;
  return change;
}

async function prepare(opts: RolloutOptions): Promise<PrivateKeyInfo> {
  const a = opts.action;
  const named = a.kind === "percent" ? a.version : a.kind === "abort" ? a.to : undefined;
  validateNameAndVersion(opts.name, named ?? "0.0.0");
  const problem = channelNameProblem(opts.channel);
  if (problem) throw new EdgeError("USAGE", problem);
  if (opts.action.kind === "percent") {
    const p = opts.action.percent;
    if (!Number.isFinite(p) || p < 0 || p > 100) throw new EdgeError("USAGE", `--percent must be from 0 to 100 (found ${p})`);
  }
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  return loadPrivateKey(opts.keyPath);
}

/**
 * One rollout change: a new signed pointer with the next sequence number.
 * percent sets the share (and with a version moves the channel there); pause and
 * resume flip `paused`; abort points the channel at 100 % back at the last
 * release that was healthy on it (or at `to`) and records the aborted version in
 * the channel's history, so devices that took it go back as an ordinary update
 * and no later abort returns to it. percent refuses a withdrawn version unless forced.
 */
export async function changeRollout(opts: RolloutOptions): Promise<RolloutChange> {
  return applyAction(opts, await prepare(opts));
}

/**
 * Sets the share, then watches device events for the channel's release and
 * aborts the rollout once the policy says so. The watch opens before the share
 * changes so the first reports are not missed.
 */
export async function rolloutWithHalt(opts: RolloutOptions & { mqtt: MqttSettings }, halt: HaltOptions): Promise<HaltResult> {
  if (opts.action.kind !== "percent") throw new EdgeError("USAGE", "--halt-on-failures goes with --percent");
  const key = await prepare(opts);
  const current = (await readChannelPointer(opts.repoDir, opts.name, opts.channel))?.value;
  const version = opts.action.version ?? current?.version;
  if (version === undefined) {
    throw new EdgeError("RELEASE_NOT_FOUND", `channel ${opts.channel} of ${opts.name} has no pointer; publish it first`);
  }
  const watch = await openEventWatch({ settings: opts.mqtt, name: opts.name, version, onWarning: halt.onWarning });
  try {
    const change = await applyAction(opts, key);
    halt.onWatching?.(change);
    const { end, decision } = await watch.until(halt.policy, halt.watchMs, halt.stopRequested);
    if (end !== "halt") return { change, end, decision };
    const abort = await applyAction({ ...opts, action: { kind: "abort" } }, key, "halt");
    return { change, end, decision, abort };
  } finally {
    await watch.close();
  }
}
