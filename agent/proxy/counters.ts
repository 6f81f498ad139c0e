/**
 * Per-version request counters of the proxy: what the gates and the agent's
 * /metrics read. Fixed latency buckets (seconds, Prometheus style) so two
 * versions' histograms compare bucket by bucket.
 */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export interface VersionCounters {
  requests: number;
  /** 5xx answers from the backend, connection failures and timeouts (the proxy's own 502/504). */
  errors: number;
  latency: {
    /** Cumulative counts per `le` bound of LATENCY_BUCKETS_SECONDS; the +Inf bucket is `count`. */
    buckets: number[];
    sumSeconds: number;
    count: number;
  };
}

export interface CountersSnapshot {
  versions: Record<string, VersionCounters>;
  /** Requests answered 503 while no version could take them (loading mode, or no backend yet). */
  rejected: number;
}

interface Tally {
  requests: number;
  errors: number;
  /** Non-cumulative: bucket i counts latencies in (bound i-1, bound i]; the last slot is above every bound. */
  bins: number[];
  sumSeconds: number;
}

export class ProxyCounters {
  private readonly tallies = new Map<string, Tally>();
  private rejectedCount = 0;

  record(version: string, outcome: { error: boolean; seconds: number }): void {
    let tally = this.tallies.get(version);
    if (!tally) {
      tally = { requests: 0, errors: 0, bins: new Array(LATENCY_BUCKETS_SECONDS.length + 1).fill(0), sumSeconds: 0 };
      this.tallies.set(version, tally);
    }
    tally.requests++;
    if (outcome.error) tally.errors++;
    let bin = LATENCY_BUCKETS_SECONDS.findIndex((bound) => outcome.seconds <= bound);
    if (bin < 0) bin = LATENCY_BUCKETS_SECONDS.length;
    tally.bins[bin] = (tally.bins[bin] ?? 0) + 1;
    tally.sumSeconds += outcome.seconds;
  }

  rejected(): void {
    this.rejectedCount++;
  }

  snapshot(): CountersSnapshot {
    const versions: Record<string, VersionCounters> = {};
    for (const [version, t] of this.tallies) {
      let running = 0;
      const buckets = LATENCY_BUCKETS_SECONDS.map((_, i) => {
        running += t.bins[i] ?? 0;
        return running;
      });
      versions[version] = {
        requests: t.requests,
        errors: t.errors,
        latency: { buckets, sumSeconds: t.sumSeconds, count: t.requests },
      };
    }
    return { versions, rejected: this.rejectedCount };
  }
}
