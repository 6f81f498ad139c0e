import { join } from "node:path";
import { sha256Hex } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { releaseManifestPath, withdrawalListPath } from "../../shared/repo-layout.js";
import { topicLevelProblem } from "../../shared/topics.js";
import { reasonProblem, type WithdrawalAction, type WithdrawalEntry, type WithdrawalList } from "../../shared/withdrawals.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { readRelease } from "../repo-files.js";
import { DEFAULT_EXPIRES_DAYS } from "../rollout/pointer-writer.js";
import {
  nextWithdrawalList,
  pushWithdrawalList,
  readWithdrawals,
  signWithdrawalList,
  writeWithdrawalBytes,
} from "../withdraw/withdrawal-file.js";
import { validateNameAndVersion } from "./build.js";
import { listChannels } from "./channels.js";

export interface WithdrawOptions {
  repoDir: string;
  name: string;
  version: string;
  reason: string;
  keyPath: string;
  /** Devices running the version keep it and report WITHDRAWN ("stay"); default: they move to the channel's release. */
  keepRunning?: boolean;
  /** Given on a rerun that changes no entry, re-signs the list with a new expiry (how the list is renewed). */
  expiresInDays?: number;
  now?: Date;
  mqtt?: MqttSettings;
}

export interface WithdrawResult {
  entry: WithdrawalEntry;
  path: string;
  sequence: number;
  expiresAt: string;
  /** False on a rerun that found the same entry and was not asked for a new expiry: nothing was written. */
  changed: boolean;
  /** Channels whose pointer still names the version: devices refuse it, but the pointer is not changed here. */
  channelsStillPointing: string[];
  mqtt?: { topic: string };
}

/**
 * Adds (or updates) a version's entry in `withdrawals/<name>.json`, signs the
 * list with the next sequence and writes it atomically; with `mqtt`, pushes the
 * exact bytes retained. Channel pointers are left as they are: moving them is
 * the operator's call (`rollout --abort`), and devices refuse the version anyway.
 */
export async function withdraw(opts: WithdrawOptions): Promise<WithdrawResult> {
  validateNameAndVersion(opts.name, opts.version);
  const problem = reasonProblem(opts.reason);
  if (problem) throw new EdgeError("USAGE", `--${problem}`);
  const days = opts.expiresInDays ?? DEFAULT_EXPIRES_DAYS;
  if (!Number.isFinite(days) || days <= 0)
    throw new EdgeError("USAGE", `expiry must be a positive number of days (found ${days})`);
  const topicProblem = topicLevelProblem(opts.name, "name");
  if (opts.mqtt && topicProblem) throw new EdgeError("USAGE", topicProblem);
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  const key = await loadPrivateKey(opts.keyPath);
  const release = await readRelease(opts.repoDir, opts.name, opts.version);
  if (!release) {
    throw new EdgeError(
      "RELEASE_NOT_FOUND",
      `${opts.name} ${opts.version} is not built in this repository (looked for ${join(opts.repoDir, releaseManifestPath(opts.name, opts.version))})`,
    );
  }
  // A malformed list stops us: starting again at sequence 1 would look like a replay to every device.
  const existing = await readWithdrawals(opts.repoDir, opts.name);
  const now = opts.now ?? new Date();
  const action: WithdrawalAction = opts.keepRunning ? "stay" : "move";
  const before = existing?.list.entries.find((e) => e.version === opts.version);
  const same = before !== undefined && before.reason === opts.reason && before.action === action;
  const path = join(opts.repoDir, withdrawalListPath(opts.name));
  let list: WithdrawalList;
  let bytes: Buffer;
  if (existing && same && opts.expiresInDays === undefined) {
    list = existing.list;
    bytes = existing.bytes;
  } else {
    const entry: WithdrawalEntry = {
      version: opts.version,
      releaseDigest: sha256Hex(release.bytes),
      reason: opts.reason,
      withdrawnAt: before?.withdrawnAt ?? now.toISOString(),
      action,
    };
    const entries = existing?.list.entries ?? [];
    const next = before ? entries.map((e) => (e.version === opts.version ? entry : e)) : [...entries, entry];
    list = nextWithdrawalList(opts.name, existing?.list.sequence ?? 0, next, now, days);
    bytes = signWithdrawalList(list, key);
    await writeWithdrawalBytes(opts.repoDir, opts.name, bytes);
  }
  const { channels } = await listChannels({ repoDir: opts.repoDir, name: opts.name, now });
  const result: WithdrawResult = {
    entry: list.entries.find((e) => e.version === opts.version) as WithdrawalEntry,
    path,
    sequence: list.sequence,
    expiresAt: list.expiresAt,
    changed: bytes !== existing?.bytes,
    channelsStillPointing: channels.filter((c) => c.version === opts.version).map((c) => c.channel),
  };
  if (!opts.mqtt) return result;
  return { ...result, mqtt: await pushWithdrawalList(path, opts.name, bytes, opts.mqtt) };
}
