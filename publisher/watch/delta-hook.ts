import type { Logger } from "pino";
import type { ReleaseManifest } from "../../shared/manifest.js";

/** What a delta step gets once a version is built and before its channel moves. */
export interface DeltaHookContext {
  name: string;
  version: string;
  repoDir: string;
  modelDir: string;
  release: ReleaseManifest;
  logger: Logger;
}

/**
 * Builds deltas from earlier releases to the one just built. Runs before the
 * channel is published, so a real implementation can add the deltas to the
 * release before devices hear of it. A failure here does not stop the publish:
 * devices fall back to the full bundle.
 */
export type DeltaHook = (ctx: DeltaHookContext) => Promise<void>;

/**
 * The default hook: deltas are NOT built yet. The delta codec (publisher/delta/)
 * is not wired into watch; this says so in the log instead of pretending.
 */
export const buildDeltasFromPrevious: DeltaHook = async (ctx) => {
  ctx.logger.info(
    { version: ctx.version, deltas: "not-implemented" },
    "no deltas built: watch does not build deltas from previous releases yet (hook buildDeltasFromPrevious); devices download the full bundle",
  );
};
