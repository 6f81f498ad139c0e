import { sleep as realSleep } from "../../shared/backoff.js";
import { EdgeError } from "../../shared/errors.js";
import { linkSignals } from "../linked-signal.js";
import type { Logger } from "../logging.js";
import { evaluateGate, fmt, type GateVerdict } from "./gate-eval.js";
import { judgeProbation, newTrack, recordVerdict } from "./gate-judge.js";
import type { MetricSource } from "./gate-source.js";
import type { ConfiguredGate } from "./gate-specs.js";
import { holdProbation } from "./health.js";
import { advanceWindow, type MetricWindow, openWindow } from "./metric-window.js";

export interface GateRunOptions {
  gates: readonly ConfiguredGate[];
  /** health.probationSeconds, in ms. */
  windowMs: number;
  /** The version on probation. */
  source: MetricSource;
  /** The previous version's figures by gate name (gate-baseline.ts); a gate without one has no baseline. */
  baseline: Readonly<Record<string, number>>;
  signal: AbortSignal;
  logger: Logger;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface GateOutcome {
  /** Gates kept on onNoDataAtLimit "hold", with why they had no figure. */
  held: { gate: string; reason: string }[];
}

/**
 * Scrapes the version on probation at each gate's interval and at the end of
 * the window, and judges (gate-judge.ts) after each round: resolves when every
 * gate passed (or was held), throws GATE_FAILED naming the gate, the observed
 * value and the threshold. Counters count from the first scrape, at
 * probation's start.
 */
export async function runGates(opts: GateRunOptions): Promise<GateOutcome> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const { gates, signal, logger } = opts;
  const started = now();
  const windowEnd = started + opts.windowMs;
  let window: MetricWindow | undefined;
  const first = await opts.source.read(signal);
  if (first.ok) window = openWindow(first.text);
  else logger.warn({ source: opts.source.description, problem: first.problem }, "metric gates: no reading at probation start");
  let tracks = gates.map((g) => newTrack(g.policy));
  const nextDue = gates.map((g) => started + g.intervalMs);
  let finalDone = false;
  for (;;) {
    const wake = Math.min(...nextDue, finalDone ? Number.POSITIVE_INFINITY : windowEnd);
    await sleep(Math.max(0, wake - now()), signal);
    const at = now();
    const reading = await opts.source.read(signal);
    if (reading.ok) window = window ? advanceWindow(window, reading.text) : openWindow(reading.text);
    const final: boolean = !finalDone && at >= windowEnd;
    finalDone ||= final;
    tracks = tracks.map((track, i) => {
      const gate = gates[i] as ConfiguredGate;
      if (!final && at < (nextDue[i] as number)) return track;
      nextDue[i] = at + gate.intervalMs;
      const verdict: GateVerdict = !reading.ok
        ? { kind: "inconclusive", reason: `no reading: ${reading.problem}` }
        : window
          ? evaluateGate(gate.spec, window, opts.baseline[gate.spec.name])
          : { kind: "inconclusive", reason: "no reading yet" };
      logger.info({ gate: gate.spec.name, ...describeVerdict(verdict) }, "metric gate evaluated");
      return recordVerdict(track, verdict);
    });
    const decision = judgeProbation(tracks, at - started, opts.windowMs);
    if (decision.type === "fail") throw new EdgeError("GATE_FAILED", decision.message);
    if (decision.type === "pass") return { held: decision.held };
  }
}

function describeVerdict(v: GateVerdict): Record<string, unknown> {
  if (v.kind === "inconclusive") return { verdict: v.kind, reason: v.reason };
  if (v.kind === "pass") return { verdict: v.kind, observed: fmt(v.observed), samples: v.samples };
  return { verdict: v.kind, observed: fmt(v.observed), threshold: v.bound, samples: v.samples };
}

export interface GatedProbationOptions extends Omit<GateRunOptions, "signal"> {
  url: string;
  intervalMs: number;
  signal: AbortSignal;
  crash: AbortSignal;
}

/** Ends the readiness probes once the gates have decided. */
class GatesSettled extends Error {}

/**
 * Probation with gates: the readiness probes of holdProbation run for as
 * long as the gates take (the window, plus extensions), and whichever fails
 * first fails the probation (HEALTH_FAILED, SERVICE_CRASHED or GATE_FAILED).
 */
export async function holdGatedProbation(opts: GatedProbationOptions): Promise<GateOutcome> {
  const over = new AbortController();
  const linked = linkSignals(opts.signal, over.signal);
  const longest = Math.max(0, ...opts.gates.map((g) => g.policy.maxExtensionMs + g.intervalMs));
  try {
    const readiness = holdProbation({
      url: opts.url,
      durationMs: opts.windowMs + longest,
      intervalMs: opts.intervalMs,
      signal: linked.signal,
      crash: opts.crash,
    }).then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof GatesSettled) return;
        over.abort(err);
        throw err;
      },
    );
    // A crash reaches the gates through the probes: their SERVICE_CRASHED aborts `over`.
    const gates = runGates({ ...opts, signal: linked.signal }).then(
      (outcome) => {
        over.abort(new GatesSettled("metric gates decided"));
        return outcome;
      },
      (err: unknown) => {
        over.abort(err);
        throw err;
      },
    );
    const [, outcome] = await Promise.all([readiness, gates]);
    return outcome;
  } finally {
    linked.dispose();
  }
}
