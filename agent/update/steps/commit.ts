import type { StepContext } from "./step.js";

/**
 * The bookkeeping of a healthy version, once the journal says succeeded: the
 * version left becomes the previous one, and the deny-list learns what this
 * outcome means.
 */
export function commit(ctx: Omit<StepContext, "signal">): void {
  const { store } = ctx.deps.ports;
  const { kind, fromVersion, toVersion, id } = ctx.attempt;
  store.setPreviousVersion(fromVersion);
  // It just proved healthy here; an old deny-list entry no longer applies.
  store.clearDenied(toVersion);
  if (kind === "rollback" && fromVersion) {
    // Without this the next poll would reinstall the release the technician just left.
    store.deny({
      version: fromVersion,
      releaseDigest: store.getVersion(fromVersion)?.releaseDigest ?? null,
      errorCode: "OPERATOR_ROLLBACK",
      reason: "rolled back by an operator",
    });
  }
  ctx.deps.logger.info({ attempt: id, version: toVersion, from: fromVersion }, "update committed");
}
