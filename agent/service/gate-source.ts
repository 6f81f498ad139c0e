import { type MetricText, parseMetricText } from "../../shared/prometheus-text.js";
import { linkSignals } from "../linked-signal.js";

/**
 * Where metric gates read their figures from. Today the service's own
 * `/metrics` (restart mode: the new process from probation's start, the old
 * one just before the restart). A hand-over proxy with per-version counters
 * can feed the same gates by implementing this for each version it routes to.
 */
export interface MetricSource {
  /** For messages and logs: the URL, or the proxy's name for the version. */
  readonly description: string;
  /** One reading; `ok: false` says why there is none (the gate then has no data, never a pass). */
  read(signal: AbortSignal): Promise<MetricReading>;
}

export type MetricReading = { ok: true; text: MetricText } | { ok: false; problem: string };

/** A scrape bigger than this is refused: gates read a service's own metrics, not a federation endpoint. */
const MAX_SCRAPE_BYTES = 8 * 1024 * 1024;

export class HttpMetricSource implements MetricSource {
  /** `extraText`: more families read beside the scrape (the hand-over proxy's per-version counters). */
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 2000,
    private readonly extraText?: () => string,
  ) {}

  get description(): string {
    return this.url;
  }

  async read(signal: AbortSignal): Promise<MetricReading> {
    const scraped = await this.scrape(signal);
    const extra = this.extraText?.();
    // The proxy's figures judge a version whose own /metrics is missing or broken.
    if (!scraped.ok && !extra) return scraped;
    const text = scraped.ok ? `${scraped.body}\n${extra ?? ""}` : (extra as string);
    const parsed = parseMetricText(text);
    return parsed.ok ? parsed : { ok: false, problem: `${this.url}: ${parsed.problem}` };
  }

  private async scrape(signal: AbortSignal): Promise<{ ok: true; body: string } | { ok: false; problem: string }> {
    const linked = linkSignals(signal, AbortSignal.timeout(this.timeoutMs));
    try {
      const res = await fetch(this.url, { signal: linked.signal, headers: { accept: "text/plain" } });
      if (!res.ok) {
        await res.body?.cancel();
        return { ok: false, problem: `${this.url} answered HTTP ${res.status}` };
      }
      const body = await res.text();
      if (body.length > MAX_SCRAPE_BYTES) return { ok: false, problem: `${this.url} sent more than ${MAX_SCRAPE_BYTES} bytes` };
      return { ok: true, body };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { ok: false, problem: `${this.url}: ${cause ?? (err as Error).message}` };
    } finally {
      linked.dispose();
    }
  }
}

/** health.metricsUrl, or `/metrics` on health.url's origin. */
export function metricsUrlFor(health: { url: string; metricsUrl?: string | undefined }): string {
  return health.metricsUrl ?? new URL("/metrics", health.url).toString();
}
