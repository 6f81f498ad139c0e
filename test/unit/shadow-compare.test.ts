import { describe, expect, it } from "vitest";
import {
  type Comparison,
  compareAnswers,
  emptyDrops,
  fieldAt,
  judge,
  quantile,
  type ShadowAnswer,
  type ShadowThresholds,
  summarize,
} from "../../agent/proxy/shadow/compare.js";

const answer = (body: unknown, status = 200, seconds = 0.01): ShadowAnswer => ({
  status,
  body: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
  seconds,
});

const THRESHOLDS: ShadowThresholds = {
  minSamples: 4,
  minAgreement: 0.75,
  maxScoreDiffP95: 0.05,
  maxLatencyRatio: 2,
  latencyQuantile: "p95",
  latencyFloorMs: 0,
};
const P95 = { latencyQuantile: "p95", latencyFloorMs: 0 } as const;
const P50 = { latencyQuantile: "p50", latencyFloorMs: 0 } as const;

const comparison = (agree: boolean, scoreDiff: Comparison["scoreDiff"], servingSeconds = 0.01, candidateSeconds = 0.01) => ({
  agree,
  scoreDiff,
  servingSeconds,
  candidateSeconds,
});

describe("fieldAt", () => {
  it.each([
    [{ label: "cat" }, "label", "cat"],
    [{ result: { scores: [1, 2] } }, "result.scores", [1, 2]],
    [{ outputs: [{ label: "a" }, { label: "b" }] }, "outputs.1.label", "b"],
    [{ label: "cat" }, "missing", undefined],
    [{ label: "cat" }, "label.deeper", undefined],
    [[1, 2], "5", undefined],
    [null, "label", undefined],
    [{ toString: "own" }, "constructor", undefined],
  ])("%j at %s is %j", (value, path, expected) => {
    expect(fieldAt(value, path)).toEqual(expected);
  });
});

describe("compareAnswers", () => {
  const rules = { labelField: "label", scoreField: "scores" };
  it.each([
    [
      "same label, scores within 0.02",
      answer({ label: "cat", scores: [0.9, 0.1] }),
      answer({ label: "cat", scores: [0.88, 0.12] }),
      true,
      0.02,
    ],
    ["other label", answer({ label: "cat", scores: [0.9, 0.1] }), answer({ label: "dog", scores: [0.4, 0.6] }), false, 0.5],
    ["same label, other status", answer({ label: "cat" }, 200), answer({ label: "cat" }, 500), false, undefined],
    ["label missing on the candidate", answer({ label: "cat", scores: [1] }), answer({ scores: [1] }), false, 0],
    ["label missing on both (both errors alike)", answer({ error: "x" }, 400), answer({ error: "y" }, 400), true, undefined],
    ["scores missing on the candidate", answer({ label: "cat", scores: [1, 0] }), answer({ label: "cat" }), true, "unmatched"],
    [
      "scores of another length",
      answer({ label: "cat", scores: [1, 0] }),
      answer({ label: "cat", scores: [1] }),
      true,
      "unmatched",
    ],
    ["a single number as score", answer({ label: "cat", scores: 0.5 }), answer({ label: "cat", scores: 0.25 }), true, 0.25],
    [
      "scores not numbers on either side",
      answer({ label: "cat", scores: ["a"] }),
      answer({ label: "cat", scores: ["b"] }),
      true,
      undefined,
    ],
    ["candidate body not JSON", answer({ label: "cat", scores: [1] }), answer("<html>oops</html>"), false, "unmatched"],
    ["neither body JSON, same status", answer("plain", 404), answer("other", 404), true, undefined],
  ])("%s", (_name, serving, candidate, agree, scoreDiff) => {
    const c = compareAnswers(serving, candidate, rules);
    expect(c.agree).toBe(agree);
    if (typeof scoreDiff === "number") expect(c.scoreDiff).toBeCloseTo(scoreDiff, 6);
    else expect(c.scoreDiff).toBe(scoreDiff);
  });

  it("without a label field, compares whole bodies byte for byte and no scores", () => {
    expect(compareAnswers(answer("ok"), answer("ok"), {})).toMatchObject({ agree: true, scoreDiff: undefined });
    expect(compareAnswers(answer("ok"), answer("ok "), {}).agree).toBe(false);
    expect(compareAnswers(answer({ a: 1, v: "1" }), answer({ a: 1, v: "2" }), {}).agree).toBe(false);
  });

  it("carries both latencies", () => {
    expect(compareAnswers(answer("a", 200, 0.01), answer("a", 200, 0.03), {})).toMatchObject({
      servingSeconds: 0.01,
      candidateSeconds: 0.03,
    });
  });
});

describe("quantile (nearest rank)", () => {
  it.each([
    [[], 0.95, null],
    [[7], 0.95, 7],
    [[3, 1, 2], 0.5, 2],
    [Array.from({ length: 100 }, (_, i) => i + 1), 0.95, 95],
    [Array.from({ length: 20 }, (_, i) => i + 1), 0.95, 19],
    [[5, 1], 0, 1],
    [[5, 1], 1, 5],
  ])("%j at %d is %j", (values, q, expected) => {
    expect(quantile(values, q)).toBe(expected);
  });
});

describe("summarize and judge", () => {
  it("an agreeing candidate passes, with its figures", () => {
    const cs = [0.01, 0.02, 0.0, 0.03].map((d) => comparison(true, d, 0.01, 0.012));
    const f = summarize(cs, emptyDrops(), P95);
    expect(f).toMatchObject({ samples: 4, dropped: 0, agreement: 1, scoreDiffP95: 0.03, scoreUnmatched: 0 });
    expect(f.latencyRatio).toBeCloseTo(1.2, 6);
    expect(judge(f, THRESHOLDS, { labelField: "label", scoreField: "scores" })).toEqual([]);
  });

  it.each([
    [
      "agreement",
      [true, true, false, false].map((a) => comparison(a, 0)),
      /^agreement 0\.500 below minAgreement 0\.75 \(2 of 4 answers had the same status and label\)$/,
    ],
    [
      "score difference p95",
      [0, 0, 0, 0.4].map((d) => comparison(true, d)),
      /^scoreDiffP95 0\.400 above maxScoreDiffP95 0\.05 \(scores\)$/,
    ],
    [
      "scores missing",
      [0, 0, 0, "unmatched" as const].map((d) => comparison(true, d)),
      /^scores missing on one side or of another length in 1 of 4 answers$/,
    ],
    [
      "latency ratio",
      [1, 2, 3, 4].map(() => comparison(true, 0, 0.01, 0.03)),
      /^latencyRatio 3\.00 above maxLatencyRatio 2 \(p95: candidate 30\.0 ms, serving 10\.0 ms\)$/,
    ],
  ])("a candidate that misses %s fails naming the figure, value and threshold", (_figure, cs, message) => {
    const problems = judge(summarize(cs, emptyDrops(), P95), THRESHOLDS, { labelField: "label", scoreField: "scores" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("lists every figure that fails, not only the first", () => {
    const cs = [1, 2, 3, 4].map(() => comparison(false, 0.9, 0.01, 0.05));
    const problems = judge(summarize(cs, emptyDrops(), P50), { ...THRESHOLDS, latencyQuantile: "p50" }, { scoreField: "scores" });
    expect(problems.map((p) => p.split(" ")[0])).toEqual(["agreement", "scoreDiffP95", "latencyRatio"]);
    expect(problems[0]).toContain("the same status and body");
  });

  it("latency ratio compares the chosen quantile", () => {
    // Serving steady at 10 ms; the candidate at 10 ms but for one slow answer in twenty.
    const cs = Array.from({ length: 20 }, (_, i) => comparison(true, undefined, 0.01, i === 0 ? 0.5 : 0.01));
    expect(summarize(cs, emptyDrops(), P50).latencyRatio).toBeCloseTo(1, 6);
    expect(summarize(cs, emptyDrops(), P95).latencyRatio).toBeCloseTo(1, 6);
    const two = Array.from({ length: 20 }, (_, i) => comparison(true, undefined, 0.01, i < 2 ? 0.5 : 0.01));
    expect(summarize(two, emptyDrops(), P95).latencyRatio).toBeCloseTo(50, 6);
  });

  it.each([
    [0, 4],
    [2, 2],
    [10, 1],
  ])("with latencyFloorMs %d, a 1 ms serving and 4 ms candidate answer give a ratio of %d", (latencyFloorMs, ratio) => {
    const cs = [1, 2, 3, 4].map(() => comparison(true, undefined, 0.001, 0.004));
    const f = summarize(cs, emptyDrops(), { latencyQuantile: "p95", latencyFloorMs });
    expect(f.latencyRatio).toBeCloseTo(ratio, 6);
    // The figures keep the latencies as measured.
    expect(f).toMatchObject({ servingLatencySeconds: 0.001, candidateLatencySeconds: 0.004 });
  });

  it.each([
    [0, { ...emptyDrops() }, /^only 0 of 4 samples within 1 s \(0 dropped\)$/],
    [
      3,
      { ...emptyDrops(), queueFull: 2, candidateTimeout: 5 },
      /^only 3 of 4 samples within 1 s \(7 dropped: 2 queue full, 5 candidate too slow\)$/,
    ],
  ])("too few samples (%d) is a failure of its own, never a pass", (n, drops, message) => {
    const cs = Array.from({ length: n }, () => comparison(true, 0));
    const f = summarize(cs, drops, P95);
    expect(f.samples).toBe(n);
    const problems = judge(f, THRESHOLDS, { labelField: "label" }, 1);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("no comparisons give null figures, not zeros", () => {
    expect(summarize([], emptyDrops(), P95)).toMatchObject({
      samples: 0,
      agreement: null,
      scoreDiffP95: null,
      latencyRatio: null,
    });
  });

  it("score thresholds are not judged without a score field", () => {
    const cs = [1, 2, 3, 4].map(() => comparison(true, undefined));
    expect(judge(summarize(cs, emptyDrops(), P95), THRESHOLDS, { labelField: "label" })).toEqual([]);
  });
});
