import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../../shared/fs-atomic.js";
import { measureBaseline } from "../../service/gate-baseline.js";
import { usesBaseline } from "../../service/gate-eval.js";
import { HttpMetricSource, metricsUrlFor } from "../../service/gate-source.js";
import { type ConfiguredGate, configuredGates } from "../../service/gate-specs.js";
import { type GateOutcome, holdGatedProbation } from "../../service/gate-watch.js";
import { type StepContext, serviceUrl } from "./step.js";

/**
 * The update core's side of metric gates (health.gates) in restart mode: the
 * previous version's baseline before the restart, kept in
 * `<dataDir>/gate-baseline.json` so a probation resumed after the agent
 * restarted compares with the old version and not with the new one, and
 * probation judged on the new process's `/metrics`.
 */
interface BaselineFile {
  attempt: number;
  version: string | null;
  figures: Record<string, number>;
}

export function gatesOf(ctx: Pick<StepContext, "deps">): ConfiguredGate[] {
  const { health } = ctx.deps.config;
  return configuredGates(health.gates, health.gateIntervalSeconds);
}

/** The service's own /metrics, and in hand-over mode the proxy's per-version counters beside it. */
function gateSource(ctx: Pick<StepContext, "deps">): HttpMetricSource {
  const { config, ports } = ctx.deps;
  return new HttpMetricSource(
    serviceUrl(ctx, metricsUrlFor(config.health)),
    2000,
    ports.service.proxyMetrics?.bind(ports.service),
  );
}

function baselinePath(ctx: Pick<StepContext, "deps">): string {
  return join(ctx.deps.layout.dataDir, "gate-baseline.json");
}

async function readBaseline(ctx: StepContext): Promise<BaselineFile | undefined> {
  try {
    const file = JSON.parse(await readFile(baselinePath(ctx), "utf8")) as BaselineFile;
    return file.attempt === ctx.attempt.id ? file : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Before the restart of an update: the old version still serves, so its
 * figures are read now. Written before the restart, so a file for this
 * attempt means the restart may already have happened: it is kept as it is.
 */
export async function recordGateBaseline(ctx: StepContext): Promise<void> {
  const gates = gatesOf(ctx).filter((g) => usesBaseline(g.spec));
  if (gates.length === 0 || ctx.attempt.kind !== "update" || (await readBaseline(ctx))) return;
  const { config, logger } = ctx.deps;
  const source = gateSource(ctx);
  const baseline = await measureBaseline({
    gates,
    source,
    windowMs: config.health.baselineWindowSeconds * 1000,
    signal: ctx.signal,
  });
  logger.info({ version: ctx.attempt.fromVersion, ...baseline }, "metric gates: baseline of the previous version");
  const file: BaselineFile = { attempt: ctx.attempt.id, version: ctx.attempt.fromVersion, figures: baseline.figures };
  await writeFileAtomic(baselinePath(ctx), `${JSON.stringify(file)}\n`);
}

/**
 * Probation judged by the gates as well as the readiness probes; undefined
 * without gates, and for an operator's rollback (their choice, with no
 * baseline to compare with: readiness alone judges it).
 */
export async function gatedProbation(ctx: StepContext): Promise<GateOutcome | undefined> {
  const gates = gatesOf(ctx);
  if (gates.length === 0 || ctx.attempt.kind !== "update") return undefined;
  const { config, ports, logger } = ctx.deps;
  const baseline = (await readBaseline(ctx))?.figures ?? {};
  return holdGatedProbation({
    url: serviceUrl(ctx, config.health.url),
    intervalMs: Math.max(config.health.intervalMs, 500),
    windowMs: config.health.probationSeconds * 1000,
    gates,
    source: gateSource(ctx),
    baseline,
    signal: ctx.signal,
    crash: ports.service.crashSignal(),
    logger,
  });
}
