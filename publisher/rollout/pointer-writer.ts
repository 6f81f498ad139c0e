import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import { CHANNEL_TYPE, type ChannelPointer, type RolloutPolicy, SPEC_VERSION } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { channelPointerPath, releaseManifestPath } from "../../shared/repo-layout.js";
import { type PrivateKeyInfo, signEnvelope } from "../../shared/signature.js";
import { channelTopic } from "../../shared/topics.js";
import { publishPointerToBroker, pushWrittenFile } from "../mqtt-publish.js";
import { readRelease } from "../repo-files.js";
import { type HistoryEntry, type PromotionRecord, recordPointers } from "./channel-history.js";

export const DEFAULT_EXPIRES_DAYS = 30;
export const DAY_MS = 24 * 60 * 60 * 1000;

export interface WritePointerOptions {
  repoDir: string;
  name: string;
  channel: string;
  version: string;
  key: PrivateKeyInfo;
  /** The pointer this one replaces; its sequence + 1 is the new sequence. */
  previous: ChannelPointer | undefined;
  /** Absent: every device. */
  rollout?: RolloutPolicy;
  expiresInDays?: number;
  now?: Date;
  mqtt?: MqttSettings;
  /** Written by an abort: the version the channel leaves, recorded in its history so no later abort returns to it. */
  aborted?: HistoryEntry["aborted"];
  /** Written by promote: who, from where, why and on which figures, recorded in the channel's history. */
  promotion?: PromotionRecord;
}

export interface WrittenPointer {
  pointer: ChannelPointer;
  path: string;
  mqtt?: { topic: string };
}

/**
 * Signs and writes a channel pointer, records it (and the one it replaced) in
 * the channel's history so `rollout --abort` knows what came before, and
 * pushes it to the broker when asked.
 */
export async function writeChannelPointer(opts: WritePointerOptions): Promise<WrittenPointer> {
  const release = await readRelease(opts.repoDir, opts.name, opts.version);
  if (!release) {
    throw new EdgeError(
      "RELEASE_NOT_FOUND",
      `${opts.name} ${opts.version} is not built in this repository (looked for ${join(opts.repoDir, releaseManifestPath(opts.name, opts.version))}); build it first`,
    );
  }
  const days = opts.expiresInDays ?? DEFAULT_EXPIRES_DAYS;
  if (!Number.isFinite(days) || days <= 0)
    throw new EdgeError("USAGE", `expiry must be a positive number of days (found ${days})`);
  const now = opts.now ?? new Date();
  const pointer: ChannelPointer = {
    _type: CHANNEL_TYPE,
    specVersion: SPEC_VERSION,
    name: opts.name,
    channel: opts.channel,
    version: opts.version,
    sequence: (opts.previous?.sequence ?? 0) + 1,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + days * DAY_MS).toISOString(),
    release: {
      url: releaseManifestPath(opts.name, opts.version),
      size: release.bytes.length,
      sha256: sha256Hex(release.bytes),
    },
  };
  if (opts.rollout) pointer.rollout = opts.rollout;
  const path = join(opts.repoDir, channelPointerPath(opts.name, opts.channel));
  await mkdir(dirname(path), { recursive: true });
  const bytes = Buffer.from(canonicalJson(signEnvelope(pointer, [opts.key])), "utf8");
  await writeFileAtomic(path, bytes);
  await recordPointers(
    opts.repoDir,
    opts.name,
    opts.channel,
    opts.previous ? [opts.previous, pointer] : [pointer],
    opts.aborted,
    opts.promotion,
  );
  const mqtt = opts.mqtt;
  if (!mqtt) return { pointer, path };
  await pushWrittenFile(path, () =>
    publishPointerToBroker({ settings: mqtt, name: opts.name, channel: opts.channel, pointerBytes: bytes }),
  );
  return { pointer, path, mqtt: { topic: channelTopic(opts.name, opts.channel) } };
}
