import { choice, decimal, type Field, type Infer, integer, list, optionalSection, optionalText, text } from "./schema-kit.js";

/**
 * `shadow`: before the switch, the proxy mirrors a sample of live requests to
 * the candidate and compares its answers with the serving version's
 * (agent/proxy/shadow/, README "Shadow comparison").
 */

const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** A list that has a default other than `[]` (list() only knows the empty one). */
function listWithDefault<T>(field: Field<T[]>, fallback: readonly T[], shown: string): Field<T[]> {
  return {
    ...field,
    shownDefault: shown,
    parse: (value, at, ctx) => (value === undefined ? [...fallback] : field.parse(value, at, ctx)),
  };
}

const fieldPath = (doc: string): Field<string | undefined> =>
  optionalText({
    type: "JSON field path",
    doc,
    check: (v, at) =>
      /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(v)
        ? undefined
        : `${at} must be a dotted JSON field path such as "label" or "result.scores" (digits index a list)`,
  });

export const shadowSection = optionalSection(
  {
    sampleRate: decimal({
      default: 0.1,
      min: 0.001,
      max: 1,
      doc: "the share of matching requests mirrored to the candidate, at random",
    }),
    methods: listWithDefault(
      list(choice(HTTP_METHODS, { doc: "" }), {
        nonEmpty: true,
        must: `a non-empty list of ${HTTP_METHODS.join(", ")}`,
        type: "list of methods",
        doc: "the request methods mirrored; list a non-idempotent one (`POST`) only for a route that changes nothing, such as a prediction",
      }),
      ["GET", "HEAD"],
      '`["GET", "HEAD"]`',
    ),
    paths: listWithDefault(
      list(
        text({
          doc: "",
          check: (v, at) => (v.startsWith("/") ? undefined : `${at} must be a path starting with "/"`),
        }),
        {
          nonEmpty: true,
          must: 'a non-empty list of paths starting with "/"',
          type: "list of paths",
          doc: "path prefixes mirrored: `/predict` takes `/predict` and `/predict/...` (the query string aside)",
        },
      ),
      ["/"],
      '`["/"]` (all)',
    ),
    labelField: fieldPath(
      "the answer's field compared for agreement, e.g. `label`; without it two answers agree when their bodies are byte for byte the same. Statuses must be equal either way",
    ),
    scoreField: fieldPath(
      "a number or list of numbers in the answer, e.g. `scores`, whose largest difference per answer is compared (`maxScoreDiffP95`); none: not compared",
    ),
    minSamples: integer({
      default: 100,
      min: 1,
      // Each comparison is kept until the verdict (a few numbers): this bounds that memory.
      max: 100_000,
      doc: "comparisons needed before a verdict; fewer by `maxDurationSeconds` fails the update (`SHADOW_MISMATCH`): no traffic is not agreement",
    }),
    minAgreement: decimal({
      default: 0.95,
      min: 0,
      max: 1,
      doc: "the least share of comparisons whose status and label (or body) agree",
    }),
    maxScoreDiffP95: decimal({
      default: 0.05,
      min: 0,
      max: 1e9,
      doc: "with `scoreField`: the p95, over comparisons, of the largest |serving − candidate| of the field's numbers must be at most this",
    }),
    maxLatencyRatio: decimal({
      default: 2,
      min: 0.01,
      max: 1000,
      doc: "the candidate's latency quantile (`latencyQuantile`) over the serving version's, on the same requests, must be at most this",
    }),
    latencyQuantile: choice(["p50", "p95"], { default: "p95", doc: "which latency quantile `maxLatencyRatio` compares" }),
    latencyFloorMs: integer({
      default: 10,
      min: 0,
      max: 60_000,
      doc: "latencies below this count as this in `latencyRatio`: between a 1 ms and a 4 ms answer on loopback lies scheduling noise, not a slower model",
    }),
    maxDurationSeconds: integer({
      default: 600,
      min: 1,
      max: 24 * 3600,
      doc: "how long the comparison may wait for `minSamples` comparisons",
    }),
    maxBodyKiB: integer({
      default: 64,
      min: 1,
      max: 16 * 1024,
      doc: "a request or answer larger than this is not compared (counted as dropped); clients get theirs whole either way",
    }),
    queueSize: integer({
      default: 16,
      min: 0,
      max: 10_000,
      doc: "mirrored requests waiting for the candidate; a request that finds the queue full is not mirrored (counted as dropped)",
    }),
    concurrency: integer({ default: 2, min: 1, max: 256, doc: "mirrored requests in flight to the candidate at once" }),
    candidateTimeoutMs: integer({
      default: 5000,
      min: 10,
      max: 600_000,
      doc: "a mirrored request the candidate has not answered within this (queue wait included) is given up (counted as dropped)",
    }),
  },
  {
    doc: 'with a `shadow` section the candidate sees a mirrored sample of live requests before it takes traffic, and takes it only if its answers agree with the serving version\'s; otherwise the update fails with `SHADOW_MISMATCH` (see "Shadow comparison")',
  },
);

export type ShadowConfig = NonNullable<Infer<typeof shadowSection>>;
