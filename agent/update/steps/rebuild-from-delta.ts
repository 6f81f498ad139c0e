import { mkdir, rm } from "node:fs/promises";
import { EdgeError } from "../../../shared/errors.js";
import type { DeltaRef, ReleaseManifest } from "../../../shared/manifest.js";
import { deltaFilePath, versionDir } from "../../install/layout.js";
import { freshStagingDir } from "../../install/staging.js";
import { exists, fetchDelta } from "../artifacts.js";
import { recordStaged } from "../record-staged.js";
import { DONE, deltaUnusable, mib, payloadBytes, requireRelease, type StepContext, type StepExecutor } from "./step.js";

/**
 * staging from a delta: the version is rebuilt in staging/ from the active
 * version's files (only read) and the delta; every rebuilt file is checked
 * against the signed manifest. Any problem gives the delta up for the bundle.
 */
export const rebuildFromDelta: StepExecutor<"rebuild-from-delta"> = async ({ delivery }, ctx) => {
  const release = requireRelease(ctx);
  const { offer } = delivery;
  try {
    const deltaFile = deltaFilePath(ctx.deps.layout, release.name, offer.from, release.version);
    if (!(await exists(deltaFile))) await fetchDelta(ctx, release, offer);
    await rebuild(ctx, release, offer, deltaFile);
    return DONE;
  } catch (err) {
    return deltaUnusable(ctx, err);
  }
};

async function rebuild(ctx: StepContext, release: ReleaseManifest, offer: DeltaRef, deltaFile: string): Promise<void> {
  const { layout, config, ports, logger } = ctx.deps;
  const memory = await ports.memory.availableBytes();
  if (memory < config.delta.minFreeMemoryMiB * 1024 * 1024) {
    throw new EdgeError(
      "MEMORY_LOW",
      `applying a delta needs ${config.delta.minFreeMemoryMiB} MiB of free memory (delta.minFreeMemoryMiB); ${mib(memory)} MiB available`,
    );
  }
  const dest = await freshStagingDir(layout, release.version, ctx.attempt.id);
  const total = payloadBytes(release);
  const started = ports.clock.now().getTime();
  try {
    await mkdir(dest, { recursive: true });
    // Loaded here, not at start: the delta code and bsdiff-node stay out of a daemon until it applies a delta.
    const { applyDelta } = await import("../../delta/apply-delta.js");
    await applyDelta({
      deltaPath: deltaFile,
      baseDir: versionDir(layout, offer.from),
      destDir: dest,
      expectedFiles: release.files,
      signal: ctx.signal,
      tempDir: layout.stagingDir,
      onProgress: (bytes) => {
        if (bytes * 2 >= total) ports.fault("mid:patching");
        ctx.deps.onStagingProgress?.(bytes, total);
      },
    });
  } catch (err) {
    await rm(dest, { recursive: true, force: true });
    throw err;
  }
  logger.info(
    {
      attempt: ctx.attempt.id,
      from: offer.from,
      to: release.version,
      ms: ports.clock.now().getTime() - started,
      savedBytes: release.bundle.size - offer.size,
    },
    "version rebuilt from the active version and a delta",
  );
  await recordStaged(ctx, release, dest);
  ports.store.setBytesSaved(ctx.attempt.id, release.bundle.size - offer.size);
  await rm(deltaFile, { force: true });
}
