import { join } from "node:path";
import type { Logger } from "pino";
import semver from "semver";
import { toEdgeError } from "../../shared/errors.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { type BuildResult, buildRelease } from "../commands/build.js";
import { publishChannel } from "../commands/publish.js";
import { readChannelPointer } from "../repo-files.js";
import type { DeltaHook } from "./delta-hook.js";
import type { CompleteReason } from "./version-board.js";
import { COMPLETE_MARKER } from "./version-folders.js";

export interface ReleaseStepSettings {
  modelsDir: string;
  repoDir: string;
  keyPath: string;
  name: string;
  channel: string;
  mqtt?: MqttSettings;
  expiresInDays?: number;
  buildDeltas: DeltaHook;
  logger: Logger;
}

const EXCLUDED = new Set([COMPLETE_MARKER]);

/**
 * Builds one complete version folder, then points the channel at it. Never
 * throws: every failure is logged with its code and reported as `false`, and a
 * failed build publishes nothing. Both writes are atomic, so a stop between
 * them leaves a built but unpublished release, never half a pointer.
 */
export async function releaseVersion(s: ReleaseStepSettings, version: string, reason: CompleteReason): Promise<boolean> {
  const log = s.logger;
  const modelDir = join(s.modelsDir, version);
  log.info({ version, reason, modelDir }, "building version");
  let built: BuildResult;
  try {
    built = await buildRelease({
      modelDir,
      name: s.name,
      version,
      repoDir: s.repoDir,
      keyPath: s.keyPath,
      exclude: EXCLUDED,
    });
  } catch (thrown) {
    const err = toEdgeError(thrown);
    log.error({ version, code: err.code, err }, "build failed; nothing published");
    return false;
  }
  const { release } = built;
  if (built.alreadyBuilt) {
    // Someone built it by hand while we watched: their publish decision stands.
    log.info({ version, releasePath: built.releasePath }, "already in the repository with the same content; not published again");
    return true;
  }
  log.info(
    { version, files: release.files.length, bundleBytes: release.bundle.size, sha256: release.bundle.sha256 },
    "version built",
  );

  try {
    await s.buildDeltas({
      name: s.name,
      version,
      repoDir: s.repoDir,
      modelDir,
      keyPath: s.keyPath,
      channel: s.channel,
      release,
      logger: log,
    });
  } catch (thrown) {
    const err = toEdgeError(thrown);
    log.warn({ version, code: err.code, err }, "deltas failed; publishing the full bundle only");
  }

  try {
    // A folder that completes late (1.1.0 after 2.0.0) is built but must not move the channel back.
    const current = await readChannelPointer(s.repoDir, s.name, s.channel);
    if (current && semver.gt(current.value.version, version)) {
      log.warn(
        { version, channel: s.channel, channelVersion: current.value.version },
        "built but not published: the channel already points at a newer version",
      );
      return true;
    }
    const published = await publishChannel({
      repoDir: s.repoDir,
      name: s.name,
      version,
      channel: s.channel,
      keyPath: s.keyPath,
      expiresInDays: s.expiresInDays,
      mqtt: s.mqtt,
    });
    log.info(
      {
        version,
        channel: s.channel,
        sequence: published.pointer.sequence,
        expiresAt: published.pointer.expiresAt,
        mqttTopic: published.mqtt?.topic,
      },
      "version published",
    );
    return true;
  } catch (thrown) {
    const err = toEdgeError(thrown);
    log.error({ version, channel: s.channel, code: err.code, err }, "publish failed");
    return false;
  }
}
