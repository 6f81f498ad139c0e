import { basename } from "node:path";
import type { LogLine, Strategy } from "./handover-world.js";
import type { Shot } from "./open-load.js";

/** From `atMs` on, the agent sends requests to `version` (its own log line says so, at that time). */
export interface ActiveChange {
  atMs: number;
  version: string;
}

/**
 * The version the agent reports active, as it changes, from its own log: in
 * hand-over mode the proxy's "backend set" (from the next request on, that
 * version serves); in restart mode "service started" (the only process
 * running is that version's). Log times have millisecond resolution.
 */
export function activeTimeline(lines: readonly LogLine[], strategy: Strategy): ActiveChange[] {
  const out: ActiveChange[] = [];
  for (const line of lines) {
    const atMs = Date.parse(String(line.time));
    let version: string | undefined;
    if (strategy === "handover" && line.msg === "proxy: backend set") {
      version = (line.backend as { version?: string } | undefined)?.version;
    } else if (strategy === "restart" && line.msg === "service started" && typeof line.modelDir === "string") {
      version = basename(line.modelDir);
    }
    if (version !== undefined && Number.isFinite(atMs) && out.at(-1)?.version !== version) out.push({ atMs, version });
  }
  return out;
}

/** The log's millisecond times against the client's sub-millisecond ones: an instant is known to within this. */
const CLOCK_SLACK_MS = 1;

/** Every version the agent reported active at some instant of [fromMs, toMs], widened by the clock slack. */
function activeDuring(timeline: readonly ActiveChange[], fromMs: number, toMs: number): Set<string> {
  const versions = new Set<string>();
  let before: ActiveChange | undefined;
  for (const change of timeline) {
    if (change.atMs <= fromMs - CLOCK_SLACK_MS) before = change;
    else if (change.atMs <= toMs + CLOCK_SLACK_MS) versions.add(change.version);
  }
  if (before) versions.add(before.version);
  return versions;
}

export type FailureKind = "refused" | "reset" | "timeout" | "http-5xx" | "http-other" | "other";

export function failureKind(shot: Shot): FailureKind | undefined {
  if (shot.status >= 200 && shot.status < 300) return undefined;
  if (shot.status >= 500) return "http-5xx";
  if (shot.status > 0) return "http-other";
  if (shot.failure === "ECONNREFUSED") return "refused";
  if (shot.failure === "ECONNRESET" || shot.failure === "EPIPE") return "reset";
  if (shot.failure === "timeout") return "timeout";
  return "other";
}

/** The example model's own fault (a fail_every release's 500): the release is bad, not the switch. */
export function isModelFault(shot: Shot): boolean {
  return shot.status === 500 && /fail_every/.test(shot.error ?? "");
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export interface LatencyFigures {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  answered: number;
}

/** Latency from when each request was due (so time spent waiting to be sent counts), over 2xx answers. */
export function latencies(shots: readonly Shot[]): LatencyFigures {
  const ms = shots
    .filter((s) => s.status >= 200 && s.status < 300)
    .map((s) => s.endMs - s.dueMs)
    .sort((a, b) => a - b);
  const round = (v: number): number => Math.round(v * 100) / 100;
  return {
    p50Ms: round(quantile(ms, 0.5)),
    p99Ms: round(quantile(ms, 0.99)),
    maxMs: round(ms.at(-1) ?? Number.NaN),
    answered: ms.length,
  };
}

export interface LoadFigures {
  requests: number;
  /** Non-2xx, refused, reset or timed out, the bad release's own 500s left out (they are counted in modelFaults). */
  failed: number;
  failedByKind: Partial<Record<FailureKind, number>>;
  /** Failed requests by HTTP status or socket error, with the first answer's error text of each. */
  failedBy: Record<string, { count: number; first: string }>;
  /** Failed requests by the agent's last log line before each was due: which of its steps they fell in. */
  failedDuring: Record<string, number>;
  modelFaults: number;
  wrongVersion: number;
  switches: number;
  /** Requests due within half a second either side of a switch instant, pooled over every switch. */
  aroundSwitch: LatencyFigures & { failed: number };
  overall: LatencyFigures;
}

/**
 * What the clients saw under one load. A 2xx answer is from the wrong version
 * when the version in its body was not the one the agent reported active at
 * any instant from the moment the request went out to the moment its answer
 * ended (each end widened by the log's 1 ms resolution): a request in flight
 * across the switch may be answered by either side, one sent wholly after it
 * must be answered by the new version.
 */
/** The agent's own lines (not the service output it relays), as [time, message], in time order. */
function agentSteps(lines: readonly LogLine[]): [number, string][] {
  return lines
    .filter((l) => typeof l.msg === "string" && !l.msg.startsWith("{") && l.msg !== "service output")
    .map((l) => [Date.parse(String(l.time)), String(l.msg).slice(0, 60)] as [number, string]);
}

function stepAt(steps: readonly [number, string][], atMs: number): string {
  let step = "(before the agent's first line)";
  for (const [t, msg] of steps) {
    if (t > atMs) break;
    step = msg;
  }
  return step;
}

export function loadFigures(shots: readonly Shot[], timeline: readonly ActiveChange[], lines: readonly LogLine[]): LoadFigures {
  const steps = agentSteps(lines);
  const failedDuring: Record<string, number> = {};
  const failedByKind: Partial<Record<FailureKind, number>> = {};
  const failedBy: LoadFigures["failedBy"] = {};
  let failed = 0;
  let modelFaults = 0;
  let wrongVersion = 0;
  for (const shot of shots) {
    if (isModelFault(shot)) {
      modelFaults++;
      continue;
    }
    const kind = failureKind(shot);
    if (kind) {
      failed++;
      failedByKind[kind] = (failedByKind[kind] ?? 0) + 1;
      const key = shot.status > 0 ? String(shot.status) : (shot.failure ?? "unknown");
      failedBy[key] ??= {
        count: 0,
        first: `${shot.error ?? ""} (version ${shot.version ?? "none"}, at ${new Date(shot.dueMs).toISOString()})`,
      };
      (failedBy[key] as { count: number }).count++;
      const step = stepAt(steps, shot.dueMs);
      failedDuring[step] = (failedDuring[step] ?? 0) + 1;
      continue;
    }
    if (shot.version === null || !activeDuring(timeline, shot.sentMs, shot.endMs).has(shot.version)) wrongVersion++;
  }
  const first = shots[0]?.dueMs ?? 0;
  const last = shots.at(-1)?.dueMs ?? 0;
  // The first change is the version serving when the load began; the switches are the ones during it.
  const switchTimes = timeline.filter((c, i) => i > 0 && c.atMs >= first && c.atMs <= last).map((c) => c.atMs);
  const near = shots.filter((s) => switchTimes.some((t) => Math.abs(s.dueMs - t) <= 500));
  const nearFailed = near.filter((s) => !isModelFault(s) && failureKind(s) !== undefined).length;
  return {
    requests: shots.length,
    failed,
    failedByKind,
    failedBy,
    failedDuring,
    modelFaults,
    wrongVersion,
    switches: switchTimes.length,
    aroundSwitch: { ...latencies(near), failed: nearFailed },
    overall: latencies(shots),
  };
}
