import type { ReleaseManifest } from "../../shared/manifest.js";
import { OnePassExtraction } from "../bundle/one-pass-extract.js";
import type { ByteTee } from "../bundle/part-writer.js";
import { UnchangedFile } from "../bundle/unchanged-file.js";
import { bundleFilePath } from "../install/layout.js";
import { freshStagingDir } from "../install/staging.js";
import { componentLogger } from "../logging.js";
import { payloadBytes, type StepContext } from "./steps/step.js";

/**
 * The bundle downloaded and extracted in one pass: every byte `download`
 * accepts (the partial file's own first, on a resume) also goes through
 * gunzip and tar into a fresh staging folder, each file checked against the
 * signed manifest. The folder is handed to the staging step only when the
 * download's SHA-256 matched as well (download throws otherwise, and the
 * folder is removed); anything else leaves no hand-over, and staging extracts
 * the finished file the two-pass way.
 */
export async function downloadWhileExtracting(
  ctx: StepContext,
  release: ReleaseManifest,
  download: (tee: ByteTee) => Promise<void>,
): Promise<void> {
  const { layout, logger } = ctx.deps;
  const dir = await freshStagingDir(layout, release.version, ctx.attempt.id);
  const total = payloadBytes(release);
  const extraction = new OnePassExtraction({
    destDir: dir,
    expected: { name: release.name, version: release.version, files: release.files },
    logger: componentLogger(logger, "extract"),
    signal: ctx.signal,
    onProgress: (bytes) => ctx.deps.onStagingProgress?.(bytes, total),
  });
  try {
    await download(extraction);
  } catch (err) {
    await extraction.discard();
    throw err;
  }
  const extracted = await extraction.finish();
  if (!extracted) return;
  const bundle = await UnchangedFile.watch(bundleFilePath(layout, release.name, release.version));
  ctx.handoff.extracted = { version: release.version, dir, extraction: extracted, bundle };
}
