import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { sleep } from "../../shared/backoff.js";
import { EdgeError, isEdgeError } from "../../shared/errors.js";

export interface ProbeResult {
  ok: boolean;
  status?: number;
  /** Why no HTTP answer came (connection refused, timeout, ...). */
  error?: string;
  /** The start of a non-2xx answer's body: services often say why they are not ready. */
  detail?: string;
  latencyMs: number;
}

const DETAIL_CHARS = 200;
/** A connection that drops during probation may be the service dying; wait this long for the exit to be reported. */
const CRASH_ATTRIBUTION_MS = 250;
/** The probe at the deadline still gets this long: one cut off after 1 ms would only report its own cut-off. */
const MIN_PROBE_MS = 100;

/**
 * One GET. A fresh connection each time (no keep-alive pool): a socket kept from
 * the previous service process would make the probe about that process. Throws
 * only if `signal` aborts (its reason); every other failure is a result.
 */
export function probeOnce(url: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const latency = (): number => Math.round((performance.now() - started) * 10) / 10;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve({ ok: false, error: `not a URL: ${url}`, latencyMs: 0 });
      return;
    }
    const request = target.protocol === "https:" ? httpsRequest : httpRequest;
    let settled = false;
    const done = (result: ProbeResult | { abort: unknown }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      req.destroy();
      if ("abort" in result) reject(result.abort);
      else resolve(result);
    };
    const req = request(target, { method: "GET", agent: false, headers: { accept: "*/*" } }, (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < DETAIL_CHARS) body += chunk;
      });
      res.on("end", () => {
        const detail = body.trim().slice(0, DETAIL_CHARS);
        done({ ok, status, ...(!ok && detail ? { detail } : {}), latencyMs: latency() });
      });
      res.on("error", (err) => done({ ok: false, status, error: describeNetError(err), latencyMs: latency() }));
    });
    req.on("error", (err) => done({ ok: false, error: describeNetError(err), latencyMs: latency() }));
    req.end();
    const timer = setTimeout(
      () => done({ ok: false, error: `no answer within ${timeoutMs} ms`, latencyMs: latency() }),
      timeoutMs,
    );
    const onAbort = (): void => done({ abort: signal?.reason });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function describeNetError(err: NodeJS.ErrnoException): string {
  return err.code ? `${err.code} (${err.message})` : err.message;
}

/** `HTTP 503: warming up` or `ECONNREFUSED (...)`: what a technician reads in the error. */
export function describeProbe(probe: ProbeResult): string {
  if (probe.error) return probe.status ? `HTTP ${probe.status}, then ${probe.error}` : probe.error;
  return probe.detail ? `HTTP ${probe.status}: ${probe.detail}` : `HTTP ${probe.status}`;
}

export interface WaitForReadyOptions {
  url: string;
  timeoutMs: number;
  /** health.intervalMs */
  intervalMs: number;
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  /** Aborts when the service exits; fails the wait at once with SERVICE_CRASHED. */
  crash?: AbortSignal;
}

/** Probes until the first 2xx: HEALTH_TIMEOUT past the deadline, SERVICE_CRASHED if `crash` aborts. */
export async function waitForReady(opts: WaitForReadyOptions): Promise<{ waitedMs: number; probes: number }> {
  const intervalMs = opts.intervalMs;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
  const watch = combine(opts.signal, opts.crash);
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let probes = 0;
  try {
    for (;;) {
      throwIfCrashed(opts.crash);
      const remaining = Math.max(MIN_PROBE_MS, deadline - Date.now());
      const probe = await probeOnce(opts.url, Math.min(requestTimeoutMs, remaining), watch);
      probes++;
      if (probe.ok) return { waitedMs: Date.now() - started, probes };
      if (Date.now() >= deadline) {
        throw new EdgeError(
          "HEALTH_TIMEOUT",
          `${opts.url} gave no 2xx within ${opts.timeoutMs} ms (${probes} probes); last probe: ${describeProbe(probe)}`,
        );
      }
      await sleep(Math.min(intervalMs, deadline - Date.now()), watch);
    }
  } catch (err) {
    throw crashOr(err, opts.crash);
  }
}

export interface HoldProbationOptions {
  url: string;
  durationMs: number;
  intervalMs?: number;
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  crash?: AbortSignal;
}

/**
 * The service must keep answering 2xx through the whole window, the last probe
 * at its end: any failure is HEALTH_FAILED, an exit SERVICE_CRASHED.
 */
export async function holdProbation(opts: HoldProbationOptions): Promise<{ probes: number }> {
  const intervalMs = opts.intervalMs ?? 1000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
  const watch = combine(opts.signal, opts.crash);
  const started = Date.now();
  const deadline = started + opts.durationMs;
  let probes = 0;
  try {
    throwIfCrashed(opts.crash);
    while (Date.now() < deadline) {
      await sleep(Math.min(intervalMs, deadline - Date.now()), watch);
      const probe = await probeOnce(opts.url, requestTimeoutMs, watch);
      probes++;
      if (!probe.ok) {
        if (probe.error && opts.crash) await sleep(CRASH_ATTRIBUTION_MS, watch);
        throw new EdgeError(
          "HEALTH_FAILED",
          `${opts.url} failed probe ${probes} of the probation window, ${Date.now() - started} ms into ${opts.durationMs} ms: ${describeProbe(probe)}`,
        );
      }
    }
    return { probes };
  } catch (err) {
    throw crashOr(err, opts.crash);
  }
}

function combine(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}

function throwIfCrashed(crash: AbortSignal | undefined): void {
  if (crash?.aborted) throw crashReason(crash);
}

/** A crash explains whatever else went wrong at the same moment, so it wins. */
function crashOr(err: unknown, crash: AbortSignal | undefined): unknown {
  return crash?.aborted ? crashReason(crash) : err;
}

function crashReason(crash: AbortSignal): EdgeError {
  const reason: unknown = crash.reason;
  if (isEdgeError(reason) && reason.code === "SERVICE_CRASHED") return reason;
  return new EdgeError("SERVICE_CRASHED", `the service exited: ${reason instanceof Error ? reason.message : String(reason)}`, {
    cause: reason,
  });
}
