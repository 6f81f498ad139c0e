import { labelsMatch, type MetricSelector } from "../../shared/prometheus-text.js";
import { hasFamily, type MetricWindow, type WindowSeries } from "./metric-window.js";

/**
 * Metric gates, judged purely: a gate and a window of scrapes since probation
 * began (metric-window.ts) give pass, fail (observed value and threshold) or
 * inconclusive (why). No data, too few samples and NaN are inconclusive, never
 * a pass: the bug Flagger's and Argo Rollouts' trackers keep meeting.
 */
interface GateCommon {
  name: string;
  /** Denominator increase (ratio), observations (quantile) or scrapes that had the metric (gauge). */
  minSamples: number;
}

export type GateSpec =
  | (GateCommon & { type: "ratio"; numerator: MetricSelector; denominator: MetricSelector; max: number })
  | (GateCommon & { type: "quantile"; histogram: MetricSelector; q: number; max?: number; maxBaselineFactor?: number })
  | (GateCommon & {
      type: "gauge";
      metric: MetricSelector;
      min?: number;
      max?: number;
      minBaselineDelta?: number;
      maxBaselineDelta?: number;
    });

export type GateVerdict =
  | { kind: "pass"; observed: number; samples: number }
  /** `bound` says the threshold in words: `<= 0.01`, `<= 1.5 x baseline 0.12 = 0.18`. */
  | { kind: "fail"; observed: number; threshold: number; bound: string; samples: number }
  | { kind: "inconclusive"; reason: string };

/** A figure with its sample count, or why there is none. */
type Figure = { value: number; samples: number } | { missing: string };

export function evaluateGate(gate: GateSpec, window: MetricWindow, baseline: number | undefined): GateVerdict {
  const figure = gateFigure(gate, window);
  if ("missing" in figure) return { kind: "inconclusive", reason: figure.missing };
  const { value, samples } = figure;
  if (samples < gate.minSamples) {
    return { kind: "inconclusive", reason: `${samples} sample(s), fewer than minSamples ${gate.minSamples}` };
  }
  if (!Number.isFinite(value)) return { kind: "inconclusive", reason: `the figure is ${value}` };
  const bounds = boundsOf(gate, baseline);
  for (const b of bounds) {
    if (b.threshold === undefined) continue;
    const ok = b.side === "max" ? value <= b.threshold : value >= b.threshold;
    if (!ok) return { kind: "fail", observed: value, threshold: b.threshold, bound: b.text, samples };
  }
  const needsBaseline = bounds.find((b) => b.threshold === undefined);
  if (needsBaseline) return { kind: "inconclusive", reason: `no baseline from the previous version for ${needsBaseline.text}` };
  return { kind: "pass", observed: value, samples };
}

/**
 * The figure a baseline-relative gate compares with, from a window of the
 * previous version: the quantile, or the gauge's latest value. Undefined when
 * the gate has no baseline bound or the window gives no usable figure (fewer
 * than minSamples, no data, NaN).
 */
export function baselineFigure(gate: GateSpec, window: MetricWindow): number | undefined {
  if (!usesBaseline(gate)) return undefined;
  const figure = gateFigure(gate, window);
  if ("missing" in figure || figure.samples < gate.minSamples || !Number.isFinite(figure.value)) return undefined;
  return figure.value;
}

export function usesBaseline(gate: GateSpec): boolean {
  if (gate.type === "quantile") return gate.maxBaselineFactor !== undefined;
  if (gate.type === "gauge") return gate.minBaselineDelta !== undefined || gate.maxBaselineDelta !== undefined;
  return false;
}

interface Bound {
  side: "min" | "max";
  /** Undefined: the bound needs a baseline there is not. */
  threshold: number | undefined;
  text: string;
}

function boundsOf(gate: GateSpec, baseline: number | undefined): Bound[] {
  const out: Bound[] = [];
  const absolute = (side: Bound["side"], v: number | undefined): void => {
    if (v !== undefined) out.push({ side, threshold: v, text: `${side === "max" ? "<=" : ">="} ${fmt(v)}` });
  };
  const relative = (side: Bound["side"], v: number | undefined, how: (b: number) => number, words: string): void => {
    if (v === undefined) return;
    const op = side === "max" ? "<=" : ">=";
    if (baseline === undefined) out.push({ side, threshold: undefined, text: `${op} ${words}` });
    else out.push({ side, threshold: how(baseline), text: `${op} ${words} (baseline ${fmt(baseline)}) = ${fmt(how(baseline))}` });
  };
  switch (gate.type) {
    case "ratio":
      absolute("max", gate.max);
      break;
    case "quantile": {
      const f = gate.maxBaselineFactor;
      absolute("max", gate.max);
      relative("max", f, (b) => b * (f ?? 1), `${fmt(f ?? 1)} x baseline`);
      break;
    }
    case "gauge": {
      const lo = gate.minBaselineDelta;
      const hi = gate.maxBaselineDelta;
      absolute("min", gate.min);
      absolute("max", gate.max);
      relative("min", lo, (b) => b + (lo ?? 0), `baseline ${signed(lo ?? 0)}`);
      relative("max", hi, (b) => b + (hi ?? 0), `baseline ${signed(hi ?? 0)}`);
      break;
    }
  }
  return out;
}

function gateFigure(gate: GateSpec, window: MetricWindow): Figure {
  switch (gate.type) {
    case "ratio":
      return ratioFigure(gate.numerator, gate.denominator, window);
    case "quantile":
      return quantileFigure(gate.histogram, gate.q, window);
    case "gauge":
      return gaugeFigure(gate.metric, window);
  }
}

function matching(window: MetricWindow, name: string, selector: MetricSelector): WindowSeries[] {
  return [...window.series.values()].filter((s) => s.name === name && labelsMatch(s.labels, selector.matchers));
}

function ratioFigure(numerator: MetricSelector, denominator: MetricSelector, window: MetricWindow): Figure {
  const den = matching(window, denominator.name, denominator);
  if (den.length === 0) return { missing: `no series matches ${denominator.text}` };
  const num = matching(window, numerator.name, numerator);
  // No error series yet is 0 errors, but only if the service knows the family: a misspelt name must not pass.
  if (num.length === 0 && !hasFamily(window, numerator.name)) {
    return { missing: `the service exports no ${numerator.name} (numerator ${numerator.text})` };
  }
  const n = sum(num.map((s) => s.increase));
  const d = sum(den.map((s) => s.increase));
  if (Number.isNaN(n) || Number.isNaN(d)) return { missing: "a counter reads NaN" };
  if (d === 0) return { missing: `${denominator.text} did not increase` };
  return { value: n / d, samples: d };
}

function quantileFigure(histogram: MetricSelector, q: number, window: MetricWindow): Figure {
  const byLe = new Map<number, number>();
  for (const s of matching(window, `${histogram.name}_bucket`, histogram)) {
    const le = parseLe(s.labels.le);
    if (le === undefined) return { missing: `${histogram.name}_bucket has le=${JSON.stringify(s.labels.le ?? "")}` };
    byLe.set(le, (byLe.get(le) ?? 0) + s.increase);
  }
  if (byLe.size === 0)
    return { missing: `no series matches ${histogram.name}_bucket${histogram.text.slice(histogram.name.length)}` };
  const buckets = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  const top = buckets.at(-1);
  if (top?.le !== Number.POSITIVE_INFINITY) return { missing: `${histogram.name}_bucket has no le="+Inf" bucket` };
  if (buckets.some((b) => Number.isNaN(b.count))) return { missing: "a bucket reads NaN" };
  if (top.count === 0) return { missing: `no observations in ${histogram.text}` };
  return { value: bucketQuantile(q, buckets), samples: top.count };
}

function gaugeFigure(metric: MetricSelector, window: MetricWindow): Figure {
  const now = matching(window, metric.name, metric).filter((s) => s.current);
  if (now.length === 0) return { missing: `no series matches ${metric.text} in the latest scrape` };
  const value = sum(now.map((s) => s.last));
  if (Number.isNaN(value)) return { missing: `${metric.text} reads NaN` };
  return { value, samples: Math.max(...now.map((s) => s.seen)) };
}

/**
 * Prometheus' histogram_quantile over cumulative buckets sorted by upper bound
 * (the last one +Inf): linear interpolation inside the bucket the rank falls
 * in, the first bucket starting at 0, and the upper bound of the last finite
 * bucket when the rank falls in +Inf. Counts that go down (buckets scraped
 * while being written) are made monotonic, as Prometheus does.
 */
export function bucketQuantile(q: number, buckets: readonly { le: number; count: number }[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  if (buckets.length < 2 || buckets.at(-1)?.le !== Number.POSITIVE_INFINITY) return Number.NaN;
  let max = 0;
  const cumulative = buckets.map((b) => {
    max = Math.max(max, b.count);
    return { le: b.le, count: max };
  });
  const observations = cumulative.at(-1)?.count ?? 0;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  let b = cumulative.findIndex((c, i) => i < cumulative.length - 1 && c.count >= rank);
  if (b < 0) b = cumulative.length - 1;
  if (b === cumulative.length - 1) return (cumulative[cumulative.length - 2] as { le: number }).le;
  const here = cumulative[b] as { le: number; count: number };
  if (b === 0 && here.le <= 0) return here.le;
  const below = b === 0 ? { le: 0, count: 0 } : (cumulative[b - 1] as { le: number; count: number });
  rank -= below.count;
  return below.le + (here.le - below.le) * (rank / (here.count - below.count));
}

function parseLe(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (raw === "+Inf" || raw === "Inf") return Number.POSITIVE_INFINITY;
  const n = Number(raw);
  return raw.trim() !== "" && !Number.isNaN(n) ? n : undefined;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Four significant digits: what a technician reads in a message. */
export function fmt(n: number): string {
  return Number.isFinite(n) ? String(Number(n.toPrecision(4))) : String(n);
}

function signed(n: number): string {
  return n < 0 ? `- ${fmt(-n)}` : `+ ${fmt(n)}`;
}
