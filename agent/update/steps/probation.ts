import { holdProbation } from "../../service/health.js";
import { DONE, type StepExecutor } from "./step.js";

/** probation: the new version must stay ready, and not crash, for health.probationSeconds. */
export const probation: StepExecutor<"probation"> = async (_phase, ctx) => {
  const { config, ports } = ctx.deps;
  await holdProbation({
    url: config.health.url,
    durationMs: config.health.probationSeconds * 1000,
    intervalMs: Math.max(config.health.intervalMs, 500),
    signal: ctx.signal,
    crash: ports.service.crashSignal(),
  });
  return DONE;
};
