import { versionDir } from "../../install/layout.js";
import type { RestartOutcome } from "../../service/controller.js";
import { waitForReady } from "../../service/health.js";
import { recordGateBaseline } from "./gate-steps.js";
import { DONE, type StepContext, type StepExecutor, serviceUrl } from "./step.js";

/**
 * starting: the service restarts on the new version and must answer ready within health.timeoutSeconds.
 * Baseline-relative metric gates first read the old version, which still serves.
 */
export const restart: StepExecutor<"restart"> = async (_phase, ctx) => {
  await recordGateBaseline(ctx);
  const outcome = await startService(ctx, ctx.attempt.toVersion, ctx.deps.config.health.timeoutSeconds);
  if (outcome) recordHandover(ctx, outcome);
  return DONE;
};

/**
 * Restarts the service on `version` and waits for its first ready answer (also how a rollback confirms the old one).
 * In hand-over mode the controller has already seen the version ready on its own port; this asks through the proxy.
 */
export async function startService(
  ctx: StepContext,
  version: string,
  timeoutSeconds: number,
): Promise<RestartOutcome | undefined> {
  const { config, layout, ports, logger } = ctx.deps;
  const { service } = ports;
  const outcome = await service.restart(versionDir(layout, version), { signal: ctx.signal });
  const ready = await waitForReady({
    url: serviceUrl(ctx, config.health.url),
    timeoutMs: timeoutSeconds * 1000,
    intervalMs: config.health.intervalMs,
    signal: ctx.signal,
    crash: service.crashSignal(),
  });
  logger.info({ version, waitedMs: ready.waitedMs, probes: ready.probes, handover: outcome?.handover }, "service ready");
  return outcome;
}

/** The journal says how the version took over, so status, history and /metrics never call a restart in place zero-downtime. */
function recordHandover(ctx: StepContext, outcome: RestartOutcome): void {
  const skipped = outcome.handover === "skipped" ? outcome : undefined;
  ctx.deps.ports.store.setHandover(ctx.attempt.id, {
    outcome: outcome.handover,
    reason: skipped?.reason ?? null,
    detail: skipped ? skipped.detail : "from" in outcome ? `from ${outcome.from}${shadowSummary(outcome)}` : null,
  });
  if (skipped) ctx.deps.logger.warn({ reason: skipped.reason, detail: skipped.detail }, `HANDOVER_SKIPPED: ${skipped.reason}`);
}

function shadowSummary(outcome: RestartOutcome): string {
  const f = outcome.handover === "switched" ? outcome.shadow : undefined;
  if (!f) return "";
  const figure = (v: number | null): string => (v === null ? "-" : String(Math.round(v * 1000) / 1000));
  return `; shadow: ${f.samples} compared (${f.dropped} dropped), agreement ${figure(f.agreement)}, score diff p95 ${figure(f.scoreDiffP95)}, latency ratio ${figure(f.latencyRatio)}`;
}
