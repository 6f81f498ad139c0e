import { activateVersion, deactivate } from "../../install/activate.js";
import { startService } from "./restart.js";
import { DONE, type StepExecutor } from "./step.js";

/**
 * rolling_back: the failed version is deny-listed, `current` goes back to the
 * version that was active before (confirmed ready), or, after a failed first
 * install, the service stops and `current` is removed.
 */
export const rollBack: StepExecutor<"roll-back"> = async ({ cause }, ctx) => {
  const { layout, config, ports, logger } = ctx.deps;
  const { fromVersion, toVersion } = ctx.attempt;
  ports.store.deny({
    version: toVersion,
    releaseDigest: ctx.attempt.releaseDigest,
    errorCode: cause?.code ?? "INTERNAL",
    reason: cause?.message ?? "failed after activation",
  });
  if (!fromVersion) {
    logger.warn({ version: toVersion }, "first install failed; no previous version to return to");
    await ports.service.stop();
    await deactivate(layout);
    return DONE;
  }
  logger.warn({ from: toVersion, to: fromVersion, code: cause?.code }, "rolling back");
  await activateVersion(layout, fromVersion);
  await startService(ctx, fromVersion, config.health.rollbackTimeoutSeconds);
  return DONE;
};
