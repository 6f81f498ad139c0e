import { describe, expect, it } from "vitest";
import { ProxyCounters } from "../../agent/proxy/counters.js";
import { renderProxyCounters } from "../../agent/proxy/counters-text.js";
import { evaluateGate, type GateSpec } from "../../agent/service/gate-eval.js";
import { advanceWindow, openWindow } from "../../agent/service/metric-window.js";
import { type MetricSelector, parseMetricText, parseSelector } from "../../shared/prometheus-text.js";

function sel(text: string): MetricSelector {
  const s = parseSelector(text);
  if (typeof s === "string") throw new Error(s);
  return s;
}

function parsed(counters: ProxyCounters) {
  const result = parseMetricText(renderProxyCounters(counters.snapshot()));
  if (!result.ok) throw new Error(result.problem);
  return result.text;
}

/**
 * The proxy's counters as gates read them: the text parses, and a ratio or
 * quantile gate over the candidate's series judges only what it answered
 * since the window opened (the version left behind is flat after the switch).
 */
describe("the hand-over proxy's counters as Prometheus text for the gates", () => {
  it("renders every family per version, with cumulative buckets ending in +Inf", () => {
    const c = new ProxyCounters();
    c.record("1.0.0", { error: false, seconds: 0.004 });
    c.record("1.0.0", { error: true, seconds: 0.2 });
    c.rejected();
    const text = renderProxyCounters(c.snapshot());
    expect(text).toMatch(/^edgepull_proxy_requests_total\{version="1\.0\.0"\} 2$/m);
    expect(text).toMatch(/^edgepull_proxy_errors_total\{version="1\.0\.0"\} 1$/m);
    expect(text).toMatch(/^edgepull_proxy_request_duration_seconds_bucket\{version="1\.0\.0",le="0\.005"\} 1$/m);
    expect(text).toMatch(/^edgepull_proxy_request_duration_seconds_bucket\{version="1\.0\.0",le="0\.25"\} 2$/m);
    expect(text).toMatch(/^edgepull_proxy_request_duration_seconds_bucket\{version="1\.0\.0",le="\+Inf"\} 2$/m);
    expect(text).toMatch(/^edgepull_proxy_rejected_total 1$/m);
    expect(parseMetricText(text).ok).toBe(true);
  });

  it.each([
    ["a candidate failing one in four", 1 / 4, "fail"],
    ["a candidate failing none", 0, "pass"],
  ])("a ratio gate over the candidate's series: %s", (_name, share, verdict) => {
    const c = new ProxyCounters();
    for (let i = 0; i < 40; i++) c.record("1.0.0", { error: i % 10 === 0, seconds: 0.01 });
    let w = openWindow(parsed(c));
    for (let i = 0; i < 40; i++) c.record("1.1.0", { error: share > 0 && i % 4 === 0, seconds: 0.01 });
    w = advanceWindow(w, parsed(c));
    const gate: GateSpec = {
      type: "ratio",
      name: "proxy-errors",
      numerator: sel('edgepull_proxy_errors_total{version="1.1.0"}'),
      denominator: sel('edgepull_proxy_requests_total{version="1.1.0"}'),
      max: 0.05,
      minSamples: 20,
    };
    const result = evaluateGate(gate, w, undefined);
    expect(result.kind).toBe(verdict);
  });

  it("a p99 latency gate reads the proxy's histogram", () => {
    const c = new ProxyCounters();
    let w = openWindow(parsed(c));
    for (let i = 0; i < 100; i++) c.record("2.0.0", { error: false, seconds: i < 95 ? 0.003 : 2 });
    w = advanceWindow(w, parsed(c));
    const gate: GateSpec = {
      type: "quantile",
      name: "p99",
      histogram: sel('edgepull_proxy_request_duration_seconds{version="2.0.0"}'),
      q: 0.99,
      max: 0.5,
      minSamples: 10,
    };
    expect(evaluateGate(gate, w, undefined).kind).toBe("fail");
    expect(evaluateGate({ ...gate, q: 0.5 }, w, undefined).kind).toBe("pass");
  });
});
