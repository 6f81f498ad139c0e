import { describe, expect, it } from "vitest";
import { baselineFigure, bucketQuantile, evaluateGate, type GateSpec, type GateVerdict } from "../../agent/service/gate-eval.js";
import { type GatePolicy, judgeProbation, newTrack, recordVerdict } from "../../agent/service/gate-judge.js";
import { advanceWindow, EMPTY_TEXT, type MetricWindow, openWindow } from "../../agent/service/metric-window.js";
import { type MetricSelector, parseMetricText, parseSelector } from "../../shared/prometheus-text.js";

function sel(text: string): MetricSelector {
  const s = parseSelector(text);
  if (typeof s === "string") throw new Error(s);
  return s;
}

function text(body: string) {
  const parsed = parseMetricText(body);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.text;
}

/** The window over scrapes: the first opens it (`null`: nothing was scraped before, everything counts from 0). */
function windowOf(...scrapes: (string | null)[]): MetricWindow {
  const [first, ...rest] = scrapes;
  let w = openWindow(first === null || first === undefined ? EMPTY_TEXT : text(first));
  for (const s of rest) w = advanceWindow(w, text(s ?? ""));
  return w;
}

const requests = (ok: number, errors: number | null) =>
  [
    "# TYPE req_total counter",
    `req_total{code="200"} ${ok}`,
    ...(errors === null ? [] : [`req_total{code="500"} ${errors}`]),
  ].join("\n");

const ratio: GateSpec = {
  type: "ratio",
  name: "errors",
  numerator: sel('req_total{code=~"5.."}'),
  denominator: sel("req_total"),
  max: 0.01,
  minSamples: 20,
};

/** Cumulative bucket counts at le = 0.1, 0.2, 0.5, 1, +Inf. */
const histogram = (counts: number[], labels = 'route="/predict",') =>
  ["0.1", "0.2", "0.5", "1", "+Inf"].map((le, i) => `lat_bucket{${labels}le="${le}"} ${counts[i]}`).join("\n");

const p90 = (extra: Partial<Extract<GateSpec, { type: "quantile" }>>): GateSpec => ({
  type: "quantile",
  name: "p90",
  histogram: sel('lat{route="/predict"}'),
  q: 0.9,
  minSamples: 10,
  ...extra,
});

const gauge = (extra: Partial<Extract<GateSpec, { type: "gauge" }>>): GateSpec => ({
  type: "gauge",
  name: "mem",
  metric: sel("rss_bytes"),
  minSamples: 1,
  ...extra,
});

type Row = [string, GateSpec, MetricWindow, number | undefined, Partial<GateVerdict> & { kind: GateVerdict["kind"] }];

describe("evaluateGate", () => {
  const rows: Row[] = [
    [
      "ratio under max passes",
      ratio,
      windowOf(requests(100, 0), requests(300, 1)),
      undefined,
      { kind: "pass", observed: 1 / 201, samples: 201 },
    ],
    [
      "ratio over max fails with observed and threshold",
      ratio,
      windowOf(requests(0, 0), requests(80, 20)),
      undefined,
      { kind: "fail", observed: 0.2, threshold: 0.01, bound: "<= 0.01", samples: 100 },
    ],
    [
      "counts only the increase since the window opened",
      ratio,
      windowOf(requests(1000, 500), requests(1100, 500)),
      undefined,
      { kind: "pass", observed: 0, samples: 100 },
    ],
    [
      "a counter reset (process restart) counts the value after it",
      ratio,
      // 500 -> 510 (+10 errors), then reset: 5 errors, 95 ok since; total 15 errors of 10+... requests.
      windowOf(requests(1000, 500), requests(1090, 510), requests(95, 5)),
      undefined,
      { kind: "fail", observed: 15 / 200, samples: 200 },
    ],
    [
      "an error series that appears during the window counts from 0",
      ratio,
      windowOf(requests(100, null), requests(150, 10)),
      undefined,
      { kind: "fail", observed: 10 / 60, samples: 60 },
    ],
    [
      "no error series yet, but the family is declared: 0 errors, pass",
      ratio,
      windowOf(requests(0, null), requests(50, null)),
      undefined,
      { kind: "pass", observed: 0 },
    ],
    [
      "a numerator the service does not export at all is no data, not 0",
      { ...ratio, numerator: sel("req_errors_totl") },
      windowOf(requests(0, null), requests(50, null)),
      undefined,
      { kind: "inconclusive", reason: "the service exports no req_errors_totl (numerator req_errors_totl)" },
    ],
    [
      "no denominator series: inconclusive",
      ratio,
      windowOf("other 1", "other 2"),
      undefined,
      { kind: "inconclusive", reason: "no series matches req_total" },
    ],
    [
      "fewer samples than minSamples: inconclusive even at 100 % errors",
      ratio,
      windowOf(requests(0, 0), requests(0, 19)),
      undefined,
      { kind: "inconclusive", reason: "19 sample(s), fewer than minSamples 20" },
    ],
    ["no traffic at all: inconclusive", ratio, windowOf(requests(10, 0), requests(10, 0)), undefined, { kind: "inconclusive" }],
    [
      "a counter reading NaN is never a pass",
      ratio,
      windowOf(requests(0, 0), requests(100, 0).replace('code="500"} 0', 'code="500"} NaN')),
      undefined,
      { kind: "inconclusive", reason: "a counter reads NaN" },
    ],
    [
      "quantile interpolates inside the bucket over the window's increase",
      p90({ max: 0.5 }),
      // Before: 100 all in <=0.1. Increase: 10, 40, 90, 100, 100 -> rank 90 lands at le 0.5 exactly.
      windowOf(histogram([100, 100, 100, 100, 100]), histogram([110, 140, 190, 200, 200])),
      undefined,
      { kind: "pass", observed: 0.5, samples: 100 },
    ],
    [
      "quantile over max fails",
      p90({ max: 0.3 }),
      windowOf(histogram([0, 0, 0, 0, 0]), histogram([10, 40, 90, 100, 100])),
      undefined,
      { kind: "fail", observed: 0.5, threshold: 0.3 },
    ],
    [
      "quantile relative to the baseline: 1.5 x 0.2 = 0.3 < 0.5 fails",
      p90({ maxBaselineFactor: 1.5 }),
      windowOf(histogram([0, 0, 0, 0, 0]), histogram([10, 40, 90, 100, 100])),
      0.2,
      { kind: "fail", observed: 0.5, threshold: 0.30000000000000004, bound: "<= 1.5 x baseline (baseline 0.2) = 0.3" },
    ],
    [
      "quantile relative to the baseline passes within the factor",
      p90({ maxBaselineFactor: 1.5 }),
      windowOf(histogram([0, 0, 0, 0, 0]), histogram([10, 40, 90, 100, 100])),
      0.4,
      { kind: "pass", observed: 0.5 },
    ],
    [
      "a baseline bound without a baseline is inconclusive",
      p90({ maxBaselineFactor: 1.5 }),
      windowOf(histogram([0, 0, 0, 0, 0]), histogram([10, 40, 90, 100, 100])),
      undefined,
      { kind: "inconclusive", reason: "no baseline from the previous version for <= 1.5 x baseline" },
    ],
    [
      "an absolute bound still fails without a baseline",
      p90({ max: 0.2, maxBaselineFactor: 1.5 }),
      windowOf(histogram([0, 0, 0, 0, 0]), histogram([10, 40, 90, 100, 100])),
      undefined,
      { kind: "fail", observed: 0.5 },
    ],
    [
      "quantile: no buckets is no data",
      p90({ max: 1 }),
      windowOf("x 1", "x 2"),
      undefined,
      { kind: "inconclusive", reason: 'no series matches lat_bucket{route="/predict"}' },
    ],
    [
      "quantile: too few observations",
      p90({ max: 1 }),
      windowOf(histogram([0, 0, 0, 0, 0]), histogram([1, 2, 3, 4, 5])),
      undefined,
      { kind: "inconclusive", reason: "5 sample(s), fewer than minSamples 10" },
    ],
    [
      "quantile: no observations since probation began",
      p90({ max: 1 }),
      windowOf(histogram([1, 2, 3, 4, 50]), histogram([1, 2, 3, 4, 50])),
      undefined,
      { kind: "inconclusive" },
    ],
    [
      "quantile: buckets without +Inf are no data",
      p90({ max: 1 }),
      windowOf(null, 'lat_bucket{route="/predict",le="0.1"} 50'),
      undefined,
      { kind: "inconclusive", reason: 'lat_bucket has no le="+Inf" bucket' },
    ],
    [
      "quantile sums the buckets of every matching series (sum by le)",
      p90({ max: 1, histogram: sel("lat") }),
      windowOf(null, `${histogram([5, 20, 45, 50, 50])}\n${histogram([5, 20, 45, 50, 50], 'route="/other",')}`),
      undefined,
      { kind: "pass", observed: 0.5, samples: 100 },
    ],
    [
      "gauge within min/max passes",
      gauge({ min: 1, max: 100 }),
      windowOf("rss_bytes 10", "rss_bytes 50"),
      undefined,
      { kind: "pass", observed: 50 },
    ],
    [
      "gauge above max fails",
      gauge({ max: 40 }),
      windowOf("rss_bytes 10", "rss_bytes 50"),
      undefined,
      { kind: "fail", observed: 50, threshold: 40, bound: "<= 40" },
    ],
    [
      "gauge below min fails",
      gauge({ min: 60 }),
      windowOf("rss_bytes 10", "rss_bytes 50"),
      undefined,
      { kind: "fail", observed: 50, threshold: 60, bound: ">= 60" },
    ],
    [
      "gauge over baseline + delta fails",
      gauge({ maxBaselineDelta: 5 }),
      windowOf("rss_bytes 10", "rss_bytes 50"),
      40,
      { kind: "fail", threshold: 45, bound: "<= baseline + 5 (baseline 40) = 45" },
    ],
    [
      "gauge under baseline - delta fails",
      gauge({ minBaselineDelta: -0.05 }),
      windowOf("acc 1", "rss_bytes 0.8"),
      0.9,
      { kind: "fail", observed: 0.8, bound: ">= baseline - 0.05 (baseline 0.9) = 0.85" },
    ],
    [
      "gauge NaN is never a pass",
      gauge({ max: 100 }),
      windowOf("rss_bytes 10", "rss_bytes NaN"),
      undefined,
      { kind: "inconclusive", reason: "rss_bytes reads NaN" },
    ],
    [
      "gauge gone from the latest scrape is no data",
      gauge({ max: 100 }),
      windowOf("rss_bytes 10", "rss_bytes 20", "other 1"),
      undefined,
      { kind: "inconclusive" },
    ],
    [
      "gauge minSamples counts scrapes that had it",
      gauge({ max: 100, minSamples: 3 }),
      windowOf("rss_bytes 10", "rss_bytes 20", "rss_bytes 20"),
      undefined,
      { kind: "inconclusive", reason: "2 sample(s), fewer than minSamples 3" },
    ],
  ];
  it.each(rows)("%s", (_name, gate, window, baseline, expected) => {
    const verdict = evaluateGate(gate, window, baseline);
    expect(verdict).toMatchObject(expected);
  });
});

describe("bucketQuantile (histogram_quantile)", () => {
  const b = (pairs: [number, number][]) => pairs.map(([le, count]) => ({ le, count }));
  const inf = Number.POSITIVE_INFINITY;
  it.each([
    [
      "median inside the first bucket starts at 0",
      0.5,
      b([
        [1, 10],
        [2, 10],
        [inf, 10],
      ]),
      0.5,
    ],
    [
      "interpolates linearly",
      0.75,
      b([
        [1, 50],
        [2, 100],
        [inf, 100],
      ]),
      1.5,
    ],
    [
      "rank in +Inf gives the last finite bound",
      0.99,
      b([
        [1, 50],
        [2, 90],
        [inf, 100],
      ]),
      2,
    ],
    [
      "non-monotonic counts are made monotonic",
      0.75,
      b([
        [1, 10],
        [2, 8],
        [3, 20],
        [inf, 20],
      ]),
      2.5,
    ],
    [
      "no observations is NaN",
      0.5,
      b([
        [1, 0],
        [inf, 0],
      ]),
      Number.NaN,
    ],
    ["one bucket is NaN", 0.5, b([[inf, 10]]), Number.NaN],
    [
      "q above 1 is +Inf",
      1.5,
      b([
        [1, 10],
        [inf, 10],
      ]),
      inf,
    ],
    [
      "a first bucket with a negative bound returns it",
      0.1,
      b([
        [-1, 10],
        [inf, 20],
      ]),
      -1,
    ],
  ])("%s", (_name, q, buckets, expected) => {
    expect(bucketQuantile(q, buckets)).toEqual(expected);
  });
});

describe("baselineFigure", () => {
  it("takes the previous version's quantile, or nothing below minSamples", () => {
    const gate = p90({ maxBaselineFactor: 2 });
    expect(baselineFigure(gate, windowOf(null, histogram([10, 40, 90, 100, 100])))).toBe(0.5);
    expect(baselineFigure(gate, windowOf(null, histogram([1, 2, 3, 4, 5])))).toBeUndefined();
    // Gates without a baseline bound take none.
    expect(baselineFigure(p90({ max: 1 }), windowOf(null, histogram([10, 40, 90, 100, 100])))).toBeUndefined();
    expect(baselineFigure(gauge({ maxBaselineDelta: 1 }), windowOf(null, "rss_bytes 7"))).toBe(7);
  });
});

describe("judgeProbation", () => {
  const policy = (over: Partial<GatePolicy> = {}): GatePolicy => ({
    name: "errors",
    failureLimit: 1,
    maxExtensionMs: 30_000,
    onNoData: "inconclusive",
    onNoDataAtLimit: "fail",
    ...over,
  });
  const pass: GateVerdict = { kind: "pass", observed: 0, samples: 50 };
  const fail: GateVerdict = { kind: "fail", observed: 0.2, threshold: 0.01, bound: "<= 0.01", samples: 100 };
  const none: GateVerdict = { kind: "inconclusive", reason: "no series matches req_total" };
  const track = (p: GatePolicy, ...verdicts: GateVerdict[]) => verdicts.reduce(recordVerdict, newTrack(p));
  const WINDOW = 10_000;

  it.each([
    ["a failure at failureLimit 1 fails at once, inside the window", [track(policy(), fail)], 2_000, "fail"],
    ["failureLimit 3: two failures in a row continue", [track(policy({ failureLimit: 3 }), fail, fail)], 2_000, "continue"],
    ["failureLimit 3: three in a row fail", [track(policy({ failureLimit: 3 }), fail, fail, fail)], 2_000, "fail"],
    [
      "failureLimit 3: a pass resets the run",
      [track(policy({ failureLimit: 3 }), fail, fail, pass, fail, fail)],
      2_000,
      "continue",
    ],
    [
      "failureLimit 3: inconclusive does not reset the run",
      [track(policy({ failureLimit: 3 }), fail, fail, none, fail)],
      2_000,
      "fail",
    ],
    ["passing inside the window continues until it ends", [track(policy(), pass)], 5_000, "continue"],
    ["passing at the end of the window passes", [track(policy(), pass)], WINDOW, "pass"],
    ["inconclusive at the end extends probation", [track(policy(), none)], WINDOW + 1_000, "continue"],
    ["inconclusive at the extension limit with fail", [track(policy(), none)], WINDOW + 30_000, "fail"],
    [
      "inconclusive at the extension limit with hold keeps the version",
      [track(policy({ onNoDataAtLimit: "hold" }), none)],
      WINDOW + 30_000,
      "pass",
    ],
    [
      "a failure below failureLimit at the limit fails",
      [track(policy({ failureLimit: 3, onNoDataAtLimit: "hold" }), fail)],
      WINDOW + 30_000,
      "fail",
    ],
    ["onNoData fail counts no data as a failure", [track(policy({ onNoData: "fail" }), none)], 1_000, "fail"],
    [
      "every gate must pass: one still inconclusive continues",
      [track(policy(), pass), track(policy({ name: "p99" }), none)],
      WINDOW,
      "continue",
    ],
    ["never evaluated by the limit is no data", [newTrack(policy())], WINDOW + 30_000, "fail"],
  ])("%s", (_name, tracks, elapsed, expected) => {
    expect(judgeProbation(tracks, elapsed, WINDOW).type).toBe(expected);
  });

  it("names the gate, the observed value and the threshold", () => {
    const decision = judgeProbation([track(policy({ failureLimit: 2 }), fail, fail)], 1_000, WINDOW);
    expect(decision).toEqual({
      type: "fail",
      gate: "errors",
      message: 'gate "errors" failed: observed 0.2, threshold <= 0.01 (100 samples, 2 evaluations in a row)',
    });
    const atLimit = judgeProbation([track(policy(), none)], WINDOW + 30_000, WINDOW);
    expect(atLimit.type === "fail" && atLimit.message).toBe(
      'gate "errors" failed: observed no data (no series matches req_total) by the end of probation plus 30 s, and onNoDataAtLimit is "fail"',
    );
    const held = judgeProbation([track(policy({ onNoDataAtLimit: "hold" }), none)], WINDOW + 30_000, WINDOW);
    expect(held).toEqual({ type: "pass", held: [{ gate: "errors", reason: "no series matches req_total" }] });
  });
});
