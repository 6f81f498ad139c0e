import { EdgeError } from "../../shared/errors.js";
import { type ChannelPointer, nameProblem } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { readChannelPointer } from "../repo-files.js";
import { writeChannelPointer } from "../rollout/pointer-writer.js";
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
}

export interface PromoteResult {
  pointer: ChannelPointer;
  path: string;
  /** The `from` pointer that vouched for the release. */
  fromSequence: number;
  mqtt?: { topic: string };
}

export function channelNameProblem(channel: string): string | undefined {
  // channels/<name>/<channel>.history.json is the history of <channel>.
  if (channel.endsWith(".history")) return `channel ${JSON.stringify(channel)} must not end in ".history"`;
  return nameProblem(channel, "channel");
}

/** Points `to` at the release `from` carries right now, and at nothing else. */
export async function promote(opts: PromoteOptions): Promise<PromoteResult> {
  validateNameAndVersion(opts.name, opts.version);
  for (const c of [opts.from, opts.to]) {
    const problem = channelNameProblem(c);
    if (problem) throw new EdgeError("USAGE", problem);
  }
  if (opts.from === opts.to) throw new EdgeError("USAGE", `--from and --to are both ${opts.from}`);
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  const key = await loadPrivateKey(opts.keyPath);
  const from = await readChannelPointer(opts.repoDir, opts.name, opts.from);
  if (!from) {
    throw new EdgeError("RELEASE_NOT_FOUND", `channel ${opts.from} of ${opts.name} has no pointer (nothing to promote from)`);
  }
  if (from.value.version !== opts.version) {
    throw new EdgeError("RELEASE_NOT_FOUND", `channel ${opts.from} carries ${from.value.version}, not ${opts.version}`);
  }
  await refuseWithdrawn(opts.repoDir, opts.name, opts.version, opts.force);
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
    now: opts.now,
    mqtt: opts.mqtt,
  });
  return { ...written, fromSequence: from.value.sequence };
}
