import { EdgeError } from "../../shared/errors.js";
import { type MetricSelector, parseSelector } from "../../shared/prometheus-text.js";
import type { GateConfig } from "../config/gates-schema.js";
import type { GateSpec } from "./gate-eval.js";
import type { GatePolicy } from "./gate-judge.js";

/** A configured gate, split into what it measures (evaluator) and how its verdicts count (judge). */
export interface ConfiguredGate {
  spec: GateSpec;
  policy: GatePolicy;
  intervalMs: number;
}

export function configuredGates(gates: readonly GateConfig[], defaultIntervalSeconds: number): ConfiguredGate[] {
  return gates.map((g) => ({
    spec: specOf(g),
    policy: {
      name: g.name,
      failureLimit: g.failureLimit,
      maxExtensionMs: g.maxExtensionSeconds * 1000,
      onNoData: g.onNoData,
      onNoDataAtLimit: g.onNoDataAtLimit,
    },
    intervalMs: (g.interval ?? defaultIntervalSeconds) * 1000,
  }));
}

function specOf(g: GateConfig): GateSpec {
  const common = { name: g.name, minSamples: g.minSamples };
  switch (g.type) {
    case "ratio":
      return {
        ...common,
        type: "ratio",
        numerator: selector(g.numerator),
        denominator: selector(g.denominator),
        max: g.max ?? 0,
      };
    case "quantile":
      return {
        ...common,
        type: "quantile",
        histogram: selector(g.histogram),
        q: g.q ?? 0.5,
        ...defined({ max: g.max, maxBaselineFactor: g.maxBaselineFactor }),
      };
    case "gauge":
      return {
        ...common,
        type: "gauge",
        metric: selector(g.metric),
        ...defined({ min: g.min, max: g.max, minBaselineDelta: g.minBaselineDelta, maxBaselineDelta: g.maxBaselineDelta }),
      };
  }
}

/** The config checked every selector; one that does not parse here is a bug. */
function selector(text: string): MetricSelector {
  const parsed = parseSelector(text);
  if (typeof parsed === "string") throw new EdgeError("INTERNAL", `gate selector ${JSON.stringify(text)}: ${parsed}`);
  return parsed;
}

function defined<T extends Record<string, number | undefined>>(values: T): { [K in keyof T]?: number } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: number };
}
