import { versionDir } from "../../install/layout.js";
import { waitForReady } from "../../service/health.js";
import { recordGateBaseline } from "./gate-steps.js";
import { DONE, type StepContext, type StepExecutor } from "./step.js";

/**
 * starting: the service restarts on the new version and must answer ready within health.timeoutSeconds.
 * Baseline-relative metric gates first read the old version, which still serves.
 */
export const restart: StepExecutor<"restart"> = async (_phase, ctx) => {
  await recordGateBaseline(ctx);
  await startService(ctx, ctx.attempt.toVersion, ctx.deps.config.health.timeoutSeconds);
  return DONE;
};

/** Restarts the service on `version` and waits for its first ready answer (also how a rollback confirms the old one). */
export async function startService(ctx: StepContext, version: string, timeoutSeconds: number): Promise<void> {
  const { config, layout, ports, logger } = ctx.deps;
  const { service } = ports;
  await service.restart(versionDir(layout, version));
  const ready = await waitForReady({
    url: config.health.url,
    timeoutMs: timeoutSeconds * 1000,
    intervalMs: config.health.intervalMs,
    signal: ctx.signal,
    crash: service.crashSignal(),
  });
  logger.info({ version, waitedMs: ready.waitedMs, probes: ready.probes }, "service ready");
}
