import { holdProbation } from "../../service/health.js";
import { gatedProbation } from "./gate-steps.js";
import { DONE, type StepExecutor, serviceUrl } from "./step.js";

/**
 * probation: the new version must stay ready, and not crash, for
 * health.probationSeconds; with health.gates, its metrics must pass them too
 * (GATE_FAILED otherwise). A gate held at its limit keeps the version and
 * records GATE_INCONCLUSIVE on the attempt.
 */
export const probation: StepExecutor<"probation"> = async (_phase, ctx) => {
  const { config, ports, logger } = ctx.deps;
  const gated = await gatedProbation(ctx);
  if (gated) {
    if (gated.held.length > 0) {
      const message = gated.held.map((h) => `gate "${h.gate}" held without a conclusive figure: ${h.reason}`).join("; ");
      ports.store.setError(ctx.attempt.id, "GATE_INCONCLUSIVE", message);
      logger.warn(
        { attempt: ctx.attempt.id, held: gated.held },
        "metric gates inconclusive; version kept (onNoDataAtLimit hold)",
      );
    }
    return DONE;
  }
  await holdProbation({
    url: serviceUrl(ctx, config.health.url),
    durationMs: config.health.probationSeconds * 1000,
    intervalMs: Math.max(config.health.intervalMs, 500),
    signal: ctx.signal,
    crash: ports.service.crashSignal(),
  });
  return DONE;
};
