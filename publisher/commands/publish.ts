import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import { CHANNEL_TYPE, type ChannelPointer, nameProblem, SPEC_VERSION } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { channelPointerPath, releaseManifestPath } from "../../shared/repo-layout.js";
import { signEnvelope } from "../../shared/signature.js";
import { channelTopic } from "../../shared/topics.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { publishPointerToBroker } from "../mqtt-publish.js";
import { readChannelPointer, readRelease } from "../repo-files.js";
import { validateNameAndVersion } from "./build.js";

export const DEFAULT_EXPIRES_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PublishOptions {
  repoDir: string;
  name: string;
  version: string;
  channel: string;
  keyPath: string;
  expiresInDays?: number;
  now?: Date;
  /** Also publish the pointer, retained, to this broker once it is written. */
  mqtt?: MqttSettings;
}

export interface PublishResult {
  pointer: ChannelPointer;
  path: string;
  /** Set when the pointer was also published to a broker (and acknowledged). */
  mqtt?: { topic: string };
}

/**
 * Points a channel at a built release. The pointer names the release manifest by
 * the digest of its exact bytes and carries the next sequence number, so devices
 * can refuse an older pointer replayed at them.
 */
export async function publishChannel(opts: PublishOptions): Promise<PublishResult> {
  validateNameAndVersion(opts.name, opts.version);
  const channelProblem = nameProblem(opts.channel, "channel");
  if (channelProblem) throw new EdgeError("VERSION_INVALID", channelProblem);
  const days = opts.expiresInDays ?? DEFAULT_EXPIRES_DAYS;
  if (!Number.isFinite(days) || days <= 0)
    throw new EdgeError("USAGE", `expiry must be a positive number of days (found ${days})`);
  // A bad URL or unreadable TLS file must stop us before the repository changes.
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  const key = await loadPrivateKey(opts.keyPath);

  const release = await readRelease(opts.repoDir, opts.name, opts.version);
  if (!release) {
    throw new EdgeError(
      "RELEASE_NOT_FOUND",
      `${opts.name} ${opts.version} is not built in this repository (looked for ${join(opts.repoDir, releaseManifestPath(opts.name, opts.version))}); build it first`,
    );
  }
  // A malformed previous pointer stops us: restarting at 1 would look like a replay to every device.
  const previous = await readChannelPointer(opts.repoDir, opts.name, opts.channel);
  const now = opts.now ?? new Date();
  const pointer: ChannelPointer = {
    _type: CHANNEL_TYPE,
    specVersion: SPEC_VERSION,
    name: opts.name,
    channel: opts.channel,
    version: opts.version,
    sequence: (previous?.value.sequence ?? 0) + 1,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + days * DAY_MS).toISOString(),
    release: {
      url: releaseManifestPath(opts.name, opts.version),
      size: release.bytes.length,
      sha256: sha256Hex(release.bytes),
    },
  };
  const path = join(opts.repoDir, channelPointerPath(opts.name, opts.channel));
  await mkdir(dirname(path), { recursive: true });
  const bytes = Buffer.from(canonicalJson(signEnvelope(pointer, [key])), "utf8");
  await writeFileAtomic(path, bytes);
  if (!opts.mqtt) return { pointer, path };
  try {
    await publishPointerToBroker({ settings: opts.mqtt, name: opts.name, channel: opts.channel, pointerBytes: bytes });
  } catch (err) {
    if (err instanceof EdgeError) {
      // Polling devices already see the new pointer; only pushed devices miss it.
      throw new EdgeError(err.code, `${err.message} (${path} was written; only the broker is behind)`, { cause: err });
    }
    throw err;
  }
  return { pointer, path, mqtt: { topic: channelTopic(opts.name, opts.channel) } };
}
