import { parseSelector } from "../../shared/prometheus-text.js";
import { choice, type Field, type Infer, integer, list, type ParseContext, section, text } from "./schema-kit.js";

/**
 * `health.gates`: typed metric checks judged during probation (README,
 * "Metric gates"). Each entry is one of three shapes told apart by `type`; the
 * README's table lists the union of their keys.
 */

const selector = (doc: string): Field<string> =>
  text({
    type: "selector",
    doc,
    check: (v, at) => {
      const parsed = parseSelector(v);
      return typeof parsed === "string" ? `${at} is not a metric selector (name{label="value",...}): ${parsed}` : undefined;
    },
  });

/** A number that may be left out. */
function optionalNumber(o: { min: number; max: number; doc: string }): Field<number | undefined> {
  const range = o.max !== Number.MAX_VALUE ? `${o.min} to ${o.max}` : o.min === -Number.MAX_VALUE ? "" : `${o.min} or more`;
  return {
    type: range ? `number, ${range}` : "number",
    doc: o.doc,
    shownDefault: "none",
    parse(value, at, ctx) {
      if (value === undefined) return undefined;
      if (typeof value === "number" && Number.isFinite(value) && value >= o.min && value <= o.max) return value;
      ctx.problems.push(`${at} must be a number${range ? ` (${range})` : ""}`);
      return undefined;
    },
  };
}

function optionalSeconds(doc: string): Field<number | undefined> {
  const field = optionalNumber({ min: 1, max: 3600, doc });
  return {
    ...field,
    type: "integer, 1 to 3600",
    parse(value, at, ctx) {
      if (value !== undefined && !Number.isInteger(value)) {
        ctx.problems.push(`${at} must be an integer from 1 to 3600`);
        return undefined;
      }
      return field.parse(value, at, ctx);
    },
  };
}

const common = (minSamplesDefault: number) => ({
  name: text({
    check: (v, at) =>
      /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(v) ? undefined : `${at} must be 1-64 letters, digits, '_', '.', ':' or '-'`,
    doc: "the gate's name, unique; `GATE_FAILED` messages name it",
  }),
  interval: optionalSeconds("seconds between this gate's evaluations; default `health.gateIntervalSeconds`"),
  minSamples: integer({
    default: minSamplesDefault,
    min: 1,
    max: 1_000_000_000,
    shownDefault: "20 (gauge: 1)",
    doc: "fewer samples is inconclusive: the denominator's increase (ratio), the histogram's observations (quantile), scrapes that had the metric (gauge)",
  }),
  failureLimit: integer({
    default: 1,
    min: 1,
    max: 100,
    doc: "failed evaluations in a row that roll the update back at once (`GATE_FAILED`)",
  }),
  onNoData: choice(["inconclusive", "fail"], {
    default: "inconclusive",
    doc: "no data, NaN or too few samples is never a pass: `inconclusive` waits for data (extending probation), `fail` counts it as a failed evaluation",
  }),
  maxExtensionSeconds: integer({
    default: 60,
    min: 0,
    max: 3600,
    doc: "how long past `health.probationSeconds` probation may be extended while this gate has not passed",
  }),
  onNoDataAtLimit: choice(["fail", "hold"], {
    default: "fail",
    doc: "still inconclusive when the extension is over: `fail` rolls back (`GATE_FAILED`), `hold` keeps the version and records `GATE_INCONCLUSIVE` on the attempt",
  }),
});

const ratio = section({
  type: choice(["ratio"], { doc: "" }),
  ...common(20),
  numerator: selector('ratio: counter selector, e.g. `http_requests_total{code=~"5.."}`; summed over matching series'),
  denominator: selector("ratio: counter selector, e.g. `http_requests_total`"),
  max: optionalNumber({ min: 0, max: Number.MAX_VALUE, doc: "ratio, quantile, gauge: the figure must be at most this" }),
});

const quantile = section({
  type: choice(["quantile"], { doc: "" }),
  ...common(20),
  histogram: selector(
    'quantile: a histogram\'s name and labels, without `_bucket`, e.g. `http_request_duration_seconds{route="/predict"}`',
  ),
  q: optionalNumber({ min: 0, max: 1, doc: "quantile: which one, e.g. 0.99" }),
  max: ratio.fields?.max as Field<number | undefined>,
  maxBaselineFactor: optionalNumber({
    min: 0,
    max: 1_000_000,
    doc: "quantile: at most this times the previous version's figure, measured before the restart",
  }),
});

const gauge = section({
  type: choice(["gauge"], { doc: "" }),
  ...common(1),
  metric: selector("gauge: a gauge selector; matching series are summed"),
  min: optionalNumber({ min: -Number.MAX_VALUE, max: Number.MAX_VALUE, doc: "gauge: the value must be at least this" }),
  max: ratio.fields?.max as Field<number | undefined>,
  minBaselineDelta: optionalNumber({
    min: -Number.MAX_VALUE,
    max: Number.MAX_VALUE,
    doc: "gauge: at least the previous version's value plus this (negative: the drop allowed)",
  }),
  maxBaselineDelta: optionalNumber({
    min: -Number.MAX_VALUE,
    max: Number.MAX_VALUE,
    doc: "gauge: at most the previous version's value plus this",
  }),
});

export type RatioGateConfig = Infer<typeof ratio>;
export type QuantileGateConfig = Infer<typeof quantile>;
export type GaugeGateConfig = Infer<typeof gauge>;
export type GateConfig = RatioGateConfig | QuantileGateConfig | GaugeGateConfig;

const VARIANTS = { ratio, quantile, gauge } as const;

/** The shape-specific rules the field types cannot say. */
function gateProblems(g: GateConfig, at: string): string[] {
  if (g.type === "ratio") return g.max === undefined ? [`${at}.max is required for a ratio gate`] : [];
  if (g.type === "quantile") {
    const out = g.q === undefined ? [`${at}.q is required for a quantile gate`] : [];
    if (g.max === undefined && g.maxBaselineFactor === undefined) out.push(`${at} needs max or maxBaselineFactor`);
    return out;
  }
  const bounds = [g.min, g.max, g.minBaselineDelta, g.maxBaselineDelta];
  const out = bounds.every((b) => b === undefined) ? [`${at} needs min, max, minBaselineDelta or maxBaselineDelta`] : [];
  if (g.min !== undefined && g.max !== undefined && g.min > g.max) out.push(`${at}.min is above ${at}.max`);
  return out;
}

function gateEntry(): Field<GateConfig> {
  const fields: Record<string, Field<unknown>> = {
    type: choice(["ratio", "quantile", "gauge"], { doc: "which check: `ratio`, `quantile` or `gauge`" }),
  };
  for (const variant of Object.values(VARIANTS)) {
    for (const [key, field] of Object.entries(variant.fields ?? {})) if (!fields[key]) fields[key] = field;
  }
  return {
    type: "object",
    doc: "",
    shownDefault: "",
    fields,
    parse(value: unknown, at: string, ctx: ParseContext): GateConfig {
      const type = typeof value === "object" && value !== null ? (value as { type?: unknown }).type : undefined;
      const variant = Object.hasOwn(VARIANTS, String(type)) ? VARIANTS[type as keyof typeof VARIANTS] : undefined;
      if (!variant) {
        ctx.problems.push(
          typeof value === "object" && value !== null && !Array.isArray(value)
            ? `${at}.type must be "ratio", "quantile" or "gauge"`
            : `${at} must be an object`,
        );
        return ratio.parse({}, at, { ...ctx, problems: [] });
      }
      const parsed = variant.parse(value, at, ctx) as GateConfig;
      for (const problem of gateProblems(parsed, at)) ctx.problems.push(problem);
      return parsed;
    },
  };
}

export const gatesField = list(gateEntry(), {
  default: [],
  must: "a list of gates",
  type: "list of gates",
  doc: 'metric checks on the service\'s `/metrics` during probation, e.g. `[{"type": "ratio", "name": "errors", "numerator": "http_requests_total{code=~\\"5..\\"}", "denominator": "http_requests_total", "max": 0.01}]` (README, "Metric gates"); a failed one rolls back with `GATE_FAILED`',
});

/** Gate names must be unique: messages and the journal name a gate by it. */
export function duplicateGateNames(gates: readonly GateConfig[], at: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const g of gates) {
    if (seen.has(g.name) && g.name !== "") out.push(`${at} names gate "${g.name}" twice`);
    seen.add(g.name);
  }
  return out;
}
