import { rm } from "node:fs/promises";
import { bundleFilePath } from "../../install/layout.js";
import { freshStagingDir } from "../../install/staging.js";
import { componentLogger } from "../../logging.js";
import { exists, fetchBundle } from "../artifacts.js";
import { recordStaged } from "../record-staged.js";
import { DONE, payloadBytes, requireRelease, type StepExecutor } from "./step.js";

/**
 * staging from the bundle: extracted safely into staging/, every file checked
 * against the signed manifest, then renamed into versions/. A bundle not there
 * yet (the delta was given up at staging) is fetched first.
 */
export const stageBundle: StepExecutor<"stage-bundle"> = async ({ delivery }, ctx) => {
  const release = requireRelease(ctx);
  if (delivery.kind === "staged") return DONE;
  const { layout, ports, logger } = ctx.deps;
  const bundle = bundleFilePath(layout, release.name, release.version);
  if (!(await exists(bundle))) await fetchBundle(ctx, release, delivery);
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
