import type { ShadowOptions } from "../../agent/proxy/shadow/shadow-run.js";

/**
 * Shadow options for tests: every `/predict` POST mirrored, `label` and
 * `scores` compared, 30 samples. The latency ratio is left wide open: both
 * versions share the test machine's two cores with the client load, so it is
 * judged in the unit tests of the arithmetic instead.
 */
export function predictShadowOptions(overrides: Partial<ShadowOptions> = {}): ShadowOptions {
  return {
    sampleRate: 1,
    methods: ["POST"],
    paths: ["/predict"],
    labelField: "label",
    scoreField: "scores",
    minSamples: 30,
    minAgreement: 0.95,
    maxScoreDiffP95: 0.01,
    maxLatencyRatio: 1000,
    latencyQuantile: "p95",
    latencyFloorMs: 10,
    maxDurationSeconds: 30,
    maxBodyKiB: 64,
    queueSize: 8,
    concurrency: 2,
    candidateTimeoutMs: 5000,
    ...overrides,
  };
}
