import { userInfo } from "node:os";
import { EdgeError } from "../../shared/errors.js";
import { type ChannelPointer, nameProblem } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { readChannelPointer } from "../repo-files.js";
import type { PromotionRecord } from "../rollout/channel-history.js";
import { writeChannelPointer } from "../rollout/pointer-writer.js";
import { figuresOf, type PromotionEvidence, type PromotionPolicy, PromotionRefused } from "../rollout/promotion-evidence.js";
import { gatherPromotionEvidence } from "../rollout/promotion-watch.js";
import { refuseWithdrawn } from "../withdraw/withdrawal-file.js";
import { validateNameAndVersion } from "./build.js";

export interface PromoteOptions {
  repoDir: string;
  name: string;
  version: string;
  from: string;
  to: string;
  keyPath: string;
  /** Share of devices on `to`; absent: every device (the share on `from` is not copied). */
  percent?: number;
  expiresInDays?: number;
  now?: Date;
  mqtt?: MqttSettings;
  /** Point `to` at a withdrawn version all the same (devices still refuse it). */
  force?: boolean;
  /** Who promotes, recorded in the history of `to`; default: the OS user. */
  by?: string;
  /** Why, recorded in the history of `to`. */
  reason?: string;
  /**
   * Thresholds the devices on `from` running the version must meet first
   * (rollout/promotion-evidence.ts), judged from their retained statuses on `mqtt`.
   */
  require?: { policy: PromotionPolicy; waitMs: number; onWarning?: (text: string) => void };
}

export interface PromoteResult {
  pointer: ChannelPointer;
  path: string;
  /** The `from` pointer that vouched for the release. */
  fromSequence: number;
  mqtt?: { topic: string };
  /** What the history of `to` records about this promotion. */
  promotion: PromotionRecord;
  /** With `require`: the evidence the promotion was allowed on. */
  evidence?: PromotionEvidence;
}

/** The OS user running the command, for the history; a uid without a passwd entry says so. */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown user";
  }
}

export function channelNameProblem(channel: string): string | undefined {
  // channels/<name>/<channel>.history.json is the history of <channel>.
  if (channel.endsWith(".history")) return `channel ${JSON.stringify(channel)} must not end in ".history"`;
  return nameProblem(channel, "channel");
}

/**
 * Points `to` at the release `from` carries right now, and at nothing else;
 * with `require`, only once the devices on `from` meet the thresholds (else
 * PromotionRefused, PROMOTION_REFUSED, with the evidence).
 */
export async function promote(opts: PromoteOptions): Promise<PromoteResult> {
  validateNameAndVersion(opts.name, opts.version);
  for (const c of [opts.from, opts.to]) {
    const problem = channelNameProblem(c);
    if (problem) throw new EdgeError("USAGE", problem);
  }
  if (opts.from === opts.to) throw new EdgeError("USAGE", `--from and --to are both ${opts.from}`);
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  if (opts.require && !opts.mqtt)
    throw new EdgeError("USAGE", "promotion thresholds are read from the devices' statuses: --mqtt URL is needed");
  const key = await loadPrivateKey(opts.keyPath);
  const from = await readChannelPointer(opts.repoDir, opts.name, opts.from);
  if (!from) {
    throw new EdgeError("RELEASE_NOT_FOUND", `channel ${opts.from} of ${opts.name} has no pointer (nothing to promote from)`);
  }
  if (from.value.version !== opts.version) {
    throw new EdgeError("RELEASE_NOT_FOUND", `channel ${opts.from} carries ${from.value.version}, not ${opts.version}`);
  }
  await refuseWithdrawn(opts.repoDir, opts.name, opts.version, opts.force);
  const now = opts.now ?? new Date();
  let evidence: PromotionEvidence | undefined;
  if (opts.require && opts.mqtt) {
    evidence = await gatherPromotionEvidence({
      settings: opts.mqtt,
      name: opts.name,
      channel: opts.from,
      version: opts.version,
      policy: opts.require.policy,
      waitMs: opts.require.waitMs,
      onWarning: opts.require.onWarning ?? (() => {}),
    });
    if (!evidence.allowed) throw new PromotionRefused(evidence);
  }
  const promotion: PromotionRecord = { from: opts.from, fromSequence: from.value.sequence, by: opts.by ?? osUser() };
  if (opts.reason !== undefined) promotion.reason = opts.reason;
  if (evidence) {
    promotion.evidence = { policy: evidence.policy, ...figuresOf(evidence), at: now.toISOString() };
  }
  const previous = await readChannelPointer(opts.repoDir, opts.name, opts.to);
  const written = await writeChannelPointer({
    repoDir: opts.repoDir,
    name: opts.name,
    channel: opts.to,
    version: opts.version,
    key,
    previous: previous?.value,
    rollout: opts.percent === undefined || opts.percent >= 100 ? undefined : { percent: opts.percent, paused: false },
    expiresInDays: opts.expiresInDays,
    now,
    mqtt: opts.mqtt,
    promotion,
  });
  return { ...written, fromSequence: from.value.sequence, promotion, ...(evidence ? { evidence } : {}) };
}
