import type { ReleaseManifest } from "../../shared/manifest.js";
import { commitStaging } from "../install/staging.js";
import type { StepContext } from "./steps/step.js";

/** Verified files in `dest` become versions/<version>, durably, and the journal knows it. */
export async function recordStaged(ctx: StepContext, release: ReleaseManifest, dest: string): Promise<void> {
  const { layout, ports, logger } = ctx.deps;
  const final = await commitStaging(layout, release.version, release.files, dest);
  ports.store.recordVersion({
    version: release.version,
    releaseJson: ctx.attempt.releaseJson ?? "",
    releaseDigest: ctx.attempt.releaseDigest ?? "",
    stagedAt: ports.clock.now().toISOString(),
  });
  logger.info({ version: release.version, dir: final }, "version staged and verified");
}
