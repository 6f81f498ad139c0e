/**
 * The shadow comparison's arithmetic, pure: one serving answer against the
 * candidate's answer to the same request, then the figures over all of them
 * and the verdict against the thresholds. No figure is made up from nothing:
 * too few comparisons is a failure of its own, never a pass.
 */

/** One side's answer to a mirrored request: status, body (bounded by the caller) and time to the last byte. */
export interface ShadowAnswer {
  status: number;
  body: Buffer;
  seconds: number;
}

export interface CompareRules {
  /** Dotted JSON path of the field compared for agreement; none: whole bodies are. */
  labelField?: string | undefined;
  /** Dotted JSON path of a number or list of numbers compared by difference; none: not compared. */
  scoreField?: string | undefined;
}

export interface Comparison {
  agree: boolean;
  /** Largest |serving − candidate| over the score field's numbers; "unmatched": one side lacks them or has another count; undefined: neither has them. */
  scoreDiff: number | "unmatched" | undefined;
  servingSeconds: number;
  candidateSeconds: number;
}

export const DROP_REASONS = ["queueFull", "bodyTooLarge", "candidateTimeout", "candidateError", "servingIncomplete"] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Plain numbers for status, history and metrics; null where no comparison gave the figure. */
export interface ShadowFigures {
  samples: number;
  dropped: number;
  droppedBy: Record<DropReason, number>;
  agreement: number | null;
  scoreDiffP95: number | null;
  /** Comparisons where only one side had the score field, or the two had different counts of numbers. */
  scoreUnmatched: number;
  latencyRatio: number | null;
  servingLatencySeconds: number | null;
  candidateLatencySeconds: number | null;
}

export interface ShadowThresholds {
  minSamples: number;
  minAgreement: number;
  maxScoreDiffP95: number;
  maxLatencyRatio: number;
  latencyQuantile: "p50" | "p95";
  /**
   * Latencies below this count as this in the ratio: on loopback a version
   * answering in 1 ms or 4 ms differs by scheduling noise, not by its model.
   */
  latencyFloorMs: number;
}

/** The value at a dotted path (`result.scores`, `outputs.0.label`), or undefined when any step is missing. */
export function fieldAt(value: unknown, path: string): unknown {
  let here: unknown = value;
  for (const step of path.split(".")) {
    if (Array.isArray(here) && /^\d+$/.test(step)) here = here[Number(step)];
    else if (typeof here === "object" && here !== null && !Array.isArray(here) && Object.hasOwn(here, step))
      here = (here as Record<string, unknown>)[step];
    else return undefined;
  }
  return here;
}

/** The body as JSON, or undefined when it is not JSON (an HTML error page, an empty body). */
function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

function numbersOf(value: unknown): number[] | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "number" && Number.isFinite(v))) return value as number[];
  return undefined;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function compareAnswers(serving: ShadowAnswer, candidate: ShadowAnswer, rules: CompareRules): Comparison {
  const needsJson = rules.labelField !== undefined || rules.scoreField !== undefined;
  const servingJson = needsJson ? parseJson(serving.body) : undefined;
  const candidateJson = needsJson ? parseJson(candidate.body) : undefined;
  const sameAnswer =
    rules.labelField === undefined
      ? serving.body.equals(candidate.body)
      : sameValue(fieldAt(servingJson, rules.labelField), fieldAt(candidateJson, rules.labelField));
  let scoreDiff: Comparison["scoreDiff"];
  if (rules.scoreField !== undefined) {
    const a = numbersOf(fieldAt(servingJson, rules.scoreField));
    const b = numbersOf(fieldAt(candidateJson, rules.scoreField));
    if (a && b && a.length === b.length) scoreDiff = Math.max(0, ...a.map((x, i) => Math.abs(x - (b[i] as number))));
    else if (a || b) scoreDiff = "unmatched";
  }
  return {
    agree: serving.status === candidate.status && sameAnswer,
    scoreDiff,
    servingSeconds: serving.seconds,
    candidateSeconds: candidate.seconds,
  };
}

/** Nearest-rank quantile (the smallest value with at least q of them at or below it); null for no values. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Even with a floor of 0, a latency below a microsecond is taken as one, so a ratio is always defined. */
const LEAST_LATENCY_SECONDS = 1e-6;

export function summarize(
  comparisons: readonly Comparison[],
  droppedBy: Readonly<Record<DropReason, number>>,
  latency: Pick<ShadowThresholds, "latencyQuantile" | "latencyFloorMs">,
): ShadowFigures {
  const n = comparisons.length;
  const diffs = comparisons.flatMap((c) => (typeof c.scoreDiff === "number" ? [c.scoreDiff] : []));
  const q = latency.latencyQuantile === "p50" ? 0.5 : 0.95;
  const floor = Math.max(latency.latencyFloorMs / 1000, LEAST_LATENCY_SECONDS);
  const serving = quantile(
    comparisons.map((c) => c.servingSeconds),
    q,
  );
  const candidate = quantile(
    comparisons.map((c) => c.candidateSeconds),
    q,
  );
  return {
    samples: n,
    dropped: Object.values(droppedBy).reduce((a, b) => a + b, 0),
    droppedBy: { ...droppedBy },
    agreement: n === 0 ? null : comparisons.filter((c) => c.agree).length / n,
    scoreDiffP95: quantile(diffs, 0.95),
    scoreUnmatched: comparisons.filter((c) => c.scoreDiff === "unmatched").length,
    latencyRatio: serving === null || candidate === null ? null : Math.max(candidate, floor) / Math.max(serving, floor),
    servingLatencySeconds: serving,
    candidateLatencySeconds: candidate,
  };
}

export function emptyDrops(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}

const DROP_WORDS: Record<DropReason, string> = {
  queueFull: "queue full",
  bodyTooLarge: "body too large",
  candidateTimeout: "candidate too slow",
  candidateError: "candidate unreachable",
  servingIncomplete: "serving answer incomplete",
};

function dropSummary(f: ShadowFigures): string {
  const parts = DROP_REASONS.filter((r) => f.droppedBy[r] > 0).map((r) => `${f.droppedBy[r]} ${DROP_WORDS[r]}`);
  return `${f.dropped} dropped${parts.length > 0 ? `: ${parts.join(", ")}` : ""}`;
}

const ms = (seconds: number | null): string => `${((seconds ?? 0) * 1000).toFixed(1)} ms`;

/** Every threshold the figures miss, each naming the figure, its value and the threshold; empty: the candidate passes. */
export function judge(f: ShadowFigures, t: ShadowThresholds, rules: CompareRules, withinSeconds?: number): string[] {
  if (f.samples < t.minSamples) {
    const within = withinSeconds === undefined ? "" : ` within ${withinSeconds} s`;
    return [`only ${f.samples} of ${t.minSamples} samples${within} (${dropSummary(f)})`];
  }
  const problems: string[] = [];
  if (f.agreement !== null && f.agreement < t.minAgreement) {
    const what = rules.labelField === undefined ? "status and body" : `status and ${rules.labelField}`;
    problems.push(
      `agreement ${f.agreement.toFixed(3)} below minAgreement ${t.minAgreement} (${Math.round(f.agreement * f.samples)} of ${f.samples} answers had the same ${what})`,
    );
  }
  if (rules.scoreField !== undefined) {
    if (f.scoreUnmatched > 0)
      problems.push(
        `${rules.scoreField} missing on one side or of another length in ${f.scoreUnmatched} of ${f.samples} answers`,
      );
    if (f.scoreDiffP95 !== null && f.scoreDiffP95 > t.maxScoreDiffP95)
      problems.push(
        `scoreDiffP95 ${f.scoreDiffP95.toPrecision(3)} above maxScoreDiffP95 ${t.maxScoreDiffP95} (${rules.scoreField})`,
      );
  }
  if (f.latencyRatio !== null && f.latencyRatio > t.maxLatencyRatio)
    problems.push(
      `latencyRatio ${f.latencyRatio.toFixed(2)} above maxLatencyRatio ${t.maxLatencyRatio} (${t.latencyQuantile}: candidate ${ms(f.candidateLatencySeconds)}, serving ${ms(f.servingLatencySeconds)})`,
    );
  return problems;
}
