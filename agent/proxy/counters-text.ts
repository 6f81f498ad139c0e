import { escapeLabelValue } from "../../shared/prometheus-text.js";
import { type CountersSnapshot, LATENCY_BUCKETS_SECONDS } from "./counters.js";

/**
 * The hand-over proxy's per-version counters in the Prometheus text format:
 * part of the agent's `/metrics`, and what `health.gates` read beside the
 * service's own metrics (a gate on `edgepull_proxy_errors_total` works for a
 * service that exports nothing).
 */
export function renderProxyCounters(snapshot: CountersSnapshot): string {
  const lines: string[] = [];
  const versions = Object.entries(snapshot.versions).sort(([a], [b]) => a.localeCompare(b));
  const family = (name: string, type: string, help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  family("edgepull_proxy_requests_total", "counter", "Requests the hand-over proxy sent to each version.");
  for (const [version, c] of versions)
    lines.push(`edgepull_proxy_requests_total{version="${escapeLabelValue(version)}"} ${c.requests}`);
  family(
    "edgepull_proxy_errors_total",
    "counter",
    "Requests of each version that ended in a 5xx, a connection failure or a timeout.",
  );
  for (const [version, c] of versions)
    lines.push(`edgepull_proxy_errors_total{version="${escapeLabelValue(version)}"} ${c.errors}`);
  family(
    "edgepull_proxy_request_duration_seconds",
    "histogram",
    "Time from a request's arrival to its answer's end, per version.",
  );
  for (const [version, c] of versions) {
    const v = escapeLabelValue(version);
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
      lines.push(`edgepull_proxy_request_duration_seconds_bucket{version="${v}",le="${le}"} ${c.latency.buckets[i] ?? 0}`);
    });
    lines.push(`edgepull_proxy_request_duration_seconds_bucket{version="${v}",le="+Inf"} ${c.latency.count}`);
    lines.push(`edgepull_proxy_request_duration_seconds_sum{version="${v}"} ${c.latency.sumSeconds}`);
    lines.push(`edgepull_proxy_request_duration_seconds_count{version="${v}"} ${c.latency.count}`);
  }
  family("edgepull_proxy_rejected_total", "counter", "Requests answered 503 + Retry-After because no version could take them.");
  lines.push(`edgepull_proxy_rejected_total ${snapshot.rejected}`);
  return `${lines.join("\n")}\n`;
}
