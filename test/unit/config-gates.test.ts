import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config.js";

const base = {
  deviceId: "dev-1",
  dataDir: "data",
  name: "demo-model",
  channel: "stable",
  repository: "http://127.0.0.1:8080",
  trustedKeys: ["keys/publisher.pub"],
  service: { mode: "supervise", command: ["node", "server.js"] },
};

const withGates = (gates: unknown, health: Record<string, unknown> = {}) => ({
  ...base,
  health: { url: "http://127.0.0.1:9208/ready", gates, ...health },
});

function problems(raw: unknown): string {
  try {
    parseConfig(raw, "/x/agent.json");
  } catch (err) {
    expect((err as { code: string }).code).toBe("CONFIG_INVALID");
    return (err as Error).message;
  }
  throw new Error("the config was accepted");
}

describe("health.gates", () => {
  it("parses the three shapes with their defaults", () => {
    const c = parseConfig(
      withGates([
        { type: "ratio", name: "errors", numerator: 'req_total{code=~"5.."}', denominator: "req_total", max: 0.01 },
        { type: "quantile", name: "p99", histogram: 'lat{route="/predict"}', q: 0.99, maxBaselineFactor: 1.5, interval: 5 },
        { type: "gauge", name: "rss", metric: "process_resident_memory_bytes", maxBaselineDelta: 5e7, onNoDataAtLimit: "hold" },
      ]),
      "/x/agent.json",
    );
    expect(c.health.gateIntervalSeconds).toBe(10);
    expect(c.health.baselineWindowSeconds).toBe(30);
    expect(c.health.metricsUrl).toBeUndefined();
    expect(c.health.gates).toEqual([
      {
        type: "ratio",
        name: "errors",
        numerator: 'req_total{code=~"5.."}',
        denominator: "req_total",
        max: 0.01,
        interval: undefined,
        minSamples: 20,
        failureLimit: 1,
        onNoData: "inconclusive",
        maxExtensionSeconds: 60,
        onNoDataAtLimit: "fail",
      },
      expect.objectContaining({ type: "quantile", q: 0.99, maxBaselineFactor: 1.5, max: undefined, interval: 5, minSamples: 20 }),
      expect.objectContaining({ type: "gauge", maxBaselineDelta: 5e7, minSamples: 1, onNoDataAtLimit: "hold" }),
    ]);
    // Without gates nothing changes.
    expect(parseConfig({ ...base, health: { url: "http://127.0.0.1:9208/ready" } }, "/x/a.json").health.gates).toEqual([]);
  });

  it.each([
    [
      [{ type: "ratio", name: "e", numerator: "a_total", denominator: "b_total" }],
      "health.gates[0].max is required for a ratio gate",
    ],
    [[{ type: "quantile", name: "p", histogram: "lat", q: 0.9 }], "health.gates[0] needs max or maxBaselineFactor"],
    [[{ type: "quantile", name: "p", histogram: "lat", max: 1 }], "health.gates[0].q is required"],
    [[{ type: "quantile", name: "p", histogram: "lat", q: 2, max: 1 }], "health.gates[0].q must be a number (0 to 1)"],
    [[{ type: "gauge", name: "g", metric: "up" }], "health.gates[0] needs min, max, minBaselineDelta or maxBaselineDelta"],
    [[{ type: "gauge", name: "g", metric: "up", min: 2, max: 1 }], "health.gates[0].min is above health.gates[0].max"],
    [[{ type: "histogram", name: "x" }], 'health.gates[0].type must be "ratio", "quantile" or "gauge"'],
    [["errors"], "health.gates[0] must be an object"],
    [
      [{ type: "ratio", name: "e", numerator: "a{b=c}", denominator: "b", max: 1 }],
      "health.gates[0].numerator is not a metric selector",
    ],
    [
      [{ type: "ratio", name: "e", numerator: "a", denominator: "b", max: 1, histogram: "x" }],
      'unknown key "health.gates[0].histogram"',
    ],
    [
      [{ type: "gauge", name: "e", metric: "a", max: 1, interval: 0.5 }],
      "health.gates[0].interval must be an integer from 1 to 3600",
    ],
    [
      [
        { type: "gauge", name: "same", metric: "a", max: 1 },
        { type: "gauge", name: "same", metric: "b", max: 1 },
      ],
      'health.gates names gate "same" twice',
    ],
  ])("refuses %j", (gates, problem) => {
    expect(problems(withGates(gates))).toContain(problem);
  });

  it("needs a probation window", () => {
    expect(problems(withGates([{ type: "gauge", name: "g", metric: "up", min: 1 }], { probationSeconds: 0 }))).toContain(
      "health.gates need health.probationSeconds of 1 or more",
    );
  });
});
