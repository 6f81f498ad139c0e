import { sleep as realSleep } from "../../shared/backoff.js";
import { baselineFigure, usesBaseline } from "./gate-eval.js";
import type { MetricSource } from "./gate-source.js";
import type { ConfiguredGate } from "./gate-specs.js";
import { advanceWindow, EMPTY_TEXT, openWindow } from "./metric-window.js";

export interface BaselineOptions {
  gates: readonly ConfiguredGate[];
  /** The version still serving, before the restart. */
  source: MetricSource;
  /** health.baselineWindowSeconds, in ms: two readings this far apart. */
  windowMs: number;
  signal: AbortSignal;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface Baseline {
  figures: Record<string, number>;
  /** Why a gate has no baseline, by gate name. */
  missing: Record<string, string>;
}

/**
 * The previous version's figure for each baseline-relative gate, measured in
 * restart mode just before the restart: over the last `windowMs` of the old
 * process, or over its whole life when that window has too few samples (or is
 * 0). A gate it cannot measure gets no baseline: its relative bound is then
 * inconclusive, never a pass.
 */
export async function measureBaseline(opts: BaselineOptions): Promise<Baseline> {
  const wanted = opts.gates.filter((g) => usesBaseline(g.spec));
  const out: Baseline = { figures: {}, missing: {} };
  if (wanted.length === 0) return out;
  const sleep = opts.sleep ?? realSleep;
  const start = opts.windowMs > 0 ? await opts.source.read(opts.signal) : undefined;
  if (opts.windowMs > 0) await sleep(opts.windowMs, opts.signal);
  const end = await opts.source.read(opts.signal);
  if (!end.ok) {
    for (const g of wanted) out.missing[g.spec.name] = end.problem;
    return out;
  }
  const recent = start?.ok ? advanceWindow(openWindow(start.text), end.text) : undefined;
  const lifetime = advanceWindow(openWindow(EMPTY_TEXT), end.text);
  for (const g of wanted) {
    const figure = (recent && baselineFigure(g.spec, recent)) ?? baselineFigure(g.spec, lifetime);
    if (figure === undefined) out.missing[g.spec.name] = `no usable figure in ${opts.source.description}`;
    else out.figures[g.spec.name] = figure;
  }
  return out;
}
