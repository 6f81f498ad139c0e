import { EdgeError } from "../../shared/errors.js";
import { type ChannelPointer, nameProblem } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { readChannelPointer } from "../repo-files.js";
import { DEFAULT_EXPIRES_DAYS, writeChannelPointer } from "../rollout/pointer-writer.js";
import { refuseWithdrawn } from "../withdraw/withdrawal-file.js";
import { validateNameAndVersion } from "./build.js";

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
  /** Point the channel at a withdrawn version all the same (devices still refuse it). */
  force?: boolean;
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
  await refuseWithdrawn(opts.repoDir, opts.name, opts.version, opts.force);

  // A malformed previous pointer stops us: restarting at 1 would look like a replay to every device.
  const previous = await readChannelPointer(opts.repoDir, opts.name, opts.channel);
  return writeChannelPointer({
    repoDir: opts.repoDir,
    name: opts.name,
    channel: opts.channel,
    version: opts.version,
    key,
    previous: previous?.value,
    expiresInDays: days,
    now: opts.now,
    mqtt: opts.mqtt,
  });
}
