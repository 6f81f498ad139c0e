import { rm } from "node:fs/promises";
import type { StreamExtraction } from "../../../shared/bundle-reader/extract.js";
import { bundleFilePath } from "../../install/layout.js";
import { freshStagingDir } from "../../install/staging.js";
import { componentLogger } from "../../logging.js";
import { exists, fetchBundle } from "../artifacts.js";
import { recordStaged } from "../record-staged.js";
import { DONE, payloadBytes, requireRelease, type StepContext, type StepExecutor } from "./step.js";

/**
 * staging from the bundle: extracted safely into staging/, every file checked
 * against the signed manifest, then renamed into versions/. A bundle not there
 * yet (the delta was given up at staging) is fetched first. When the download
 * already extracted it (one pass), what is left is making those files durable;
 * otherwise (a restart after the download, a sideload, a hand-over refused)
 * the finished file is extracted here.
 */
export const stageBundle: StepExecutor<"stage-bundle"> = async ({ delivery }, ctx) => {
  const release = requireRelease(ctx);
  if (delivery.kind === "staged") return DONE;
  const { layout, ports, logger } = ctx.deps;
  const bundle = bundleFilePath(layout, release.name, release.version);
  if (!(await exists(bundle))) await fetchBundle(ctx, release, delivery);
  const extracted = ctx.handoff.extracted;
  ctx.handoff.extracted = undefined;
  const usable = extracted?.version === release.version && (await extracted.bundle.unchanged());
  extracted?.bundle.close();
  if (extracted && usable) {
    await finishExtracted(ctx, extracted.dir, extracted.extraction.syncDeferred, payloadBytes(release));
    await recordStaged(ctx, release, extracted.dir);
    await rm(bundle, { force: true });
    return DONE;
  }
  if (extracted) logger.warn({ bundle }, "the bundle changed on disk after it was verified; extracting it again");
  const dest = await freshStagingDir(layout, release.version, ctx.attempt.id);
  const total = payloadBytes(release);
  // Loaded here, not at start: tar-stream and the extraction code stay out of an idle daemon until it installs.
  const { extractBundle } = await import("../../../shared/bundle-reader/extract.js");
  await extractBundle({
    bundlePath: bundle,
    destDir: dest,
    expected: { name: release.name, version: release.version, files: release.files },
    logger: componentLogger(logger, "extract"),
    signal: ctx.signal,
    onProgress: (bytes) => {
      if (bytes * 2 >= total) ports.fault("mid:staging");
      ctx.deps.onStagingProgress?.(bytes, total);
    },
  });
  await recordStaged(ctx, release, dest);
  await rm(bundle, { force: true });
  return DONE;
};

/** The files the download extracted and verified, fsynced (each once) with their folders; a stop here keeps nothing. */
async function finishExtracted(
  ctx: StepContext,
  dir: string,
  syncDeferred: StreamExtraction["syncDeferred"],
  total: number,
): Promise<void> {
  let synced = 0;
  // No progress report here: the staging bar already filled during the pass, as the files were written.
  await syncDeferred((bytes) => {
    synced += bytes;
    if (synced * 2 >= total) ctx.deps.ports.fault("mid:staging");
  });
  if (ctx.signal.aborted) {
    await rm(dir, { recursive: true, force: true });
    throw ctx.signal.reason;
  }
}
