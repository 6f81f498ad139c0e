import type { IncomingMessage } from "node:http";
import { EdgeError } from "../../../shared/errors.js";
import {
  type CompareRules,
  type Comparison,
  compareAnswers,
  type DropReason,
  emptyDrops,
  judge,
  type ShadowFigures,
  type ShadowThresholds,
  summarize,
} from "./compare.js";
import { MirrorQueue, type ShadowCandidate } from "./mirror-queue.js";
import { ShadowTap } from "./tap.js";

export type { DropReason, ShadowFigures } from "./compare.js";
export type { ShadowCandidate } from "./mirror-queue.js";

/** What a shadow comparison is told; the config's `shadow` section has this shape. */
export interface ShadowOptions extends ShadowThresholds, CompareRules {
  /** Share of matching requests mirrored, (0, 1]. */
  sampleRate: number;
  /** Methods mirrored, upper case (`GET`, `HEAD`; `POST` only for a route that changes nothing). */
  methods: readonly string[];
  /** Path prefixes mirrored: `/predict` takes `/predict` and `/predict/...`; `/` takes all. */
  paths: readonly string[];
  maxDurationSeconds: number;
  maxBodyKiB: number;
  queueSize: number;
  concurrency: number;
  candidateTimeoutMs: number;
  /** Draws in [0, 1) for sampling; Math.random unless a test fixes it. */
  random?: () => number;
}

export type ShadowVerdict = { ok: true; figures: ShadowFigures } | { ok: false; error: EdgeError; figures: ShadowFigures };

type Outcome = { verdict: ShadowVerdict } | { stopped: true };

function pathMatches(url: string | undefined, prefixes: readonly string[]): boolean {
  const path = (url ?? "/").split("?")[0] ?? "/";
  return prefixes.some((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`));
}

/**
 * One shadow comparison of a candidate against whatever version serves,
 * from startShadow() until its verdict: `minSamples` comparisons judged
 * against the thresholds, or `maxDurationSeconds` without enough of them
 * (SHADOW_MISMATCH: no traffic is not agreement). Once decided it mirrors
 * nothing more and its figures stay as they were at the verdict.
 */
export class ShadowRun {
  readonly candidate: ShadowCandidate;
  private readonly mirrors: MirrorQueue;
  private readonly comparisons: Comparison[] = [];
  private readonly drops = emptyDrops();
  private readonly servingVersions = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly outcome: Promise<Outcome>;
  private settle!: (outcome: Outcome) => void;
  private decided: ShadowFigures | undefined;
  private pending = 0;

  constructor(
    candidate: ShadowCandidate,
    private readonly opts: ShadowOptions,
    private readonly onEnd: (run: ShadowRun) => void = () => {},
  ) {
    this.candidate = { ...candidate };
    this.mirrors = new MirrorQueue(this.candidate, {
      concurrency: opts.concurrency,
      queueSize: opts.queueSize,
      timeoutMs: opts.candidateTimeoutMs,
      maxBodyBytes: opts.maxBodyKiB * 1024,
    });
    this.outcome = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.timer = setTimeout(() => this.decide(), opts.maxDurationSeconds * 1000);
  }

  /**
   * Called by the proxy for each request it is about to forward to `serving`:
   * a tap when this one is mirrored, undefined when not (not sampled, wrong
   * method or path, the run is over, or too many are pending: that counts as
   * a drop).
   */
  tap(req: IncomingMessage, serving: ShadowCandidate): ShadowTap | undefined {
    if (this.decided) return undefined;
    if (serving.host === this.candidate.host && serving.port === this.candidate.port) return undefined;
    if (!this.opts.methods.includes(req.method ?? "GET") || !pathMatches(req.url, this.opts.paths)) return undefined;
    if ((this.opts.random ?? Math.random)() >= this.opts.sampleRate) return undefined;
    // Each pending tap holds up to three bounded bodies; this keeps their number bounded too.
    if (this.pending >= this.opts.queueSize + this.opts.concurrency) {
      this.drops.queueFull++;
      return undefined;
    }
    this.pending++;
    this.servingVersions.add(serving.version);
    return new ShadowTap(req, this.opts.maxBodyKiB * 1024, {
      mirror: (job) => this.mirrors.submit(job),
      compare: (s, c) => {
        this.pending--;
        if (this.decided) return;
        this.comparisons.push(compareAnswers(s, c, this.opts));
        if (this.comparisons.length >= this.opts.minSamples) this.decide();
      },
      drop: (reason: DropReason) => {
        this.pending--;
        if (!this.decided) this.drops[reason]++;
      },
    });
  }

  /** The figures so far (or at the verdict, once decided). */
  figures(): ShadowFigures {
    return this.decided ?? summarize(this.comparisons, this.drops, this.opts);
  }

  /**
   * The verdict, once decided. Rejects with the signal's reason when it aborts
   * (the run goes on: stop() ends it) and with INTERRUPTED when the run was
   * stopped before a verdict.
   */
  async verdict(signal?: AbortSignal): Promise<ShadowVerdict> {
    signal?.throwIfAborted();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const outcome = await Promise.race([this.outcome, aborted]);
      if ("verdict" in outcome) return outcome.verdict;
      throw new EdgeError(
        "INTERRUPTED",
        `shadow comparison of ${this.candidate.version} was stopped before a verdict (${this.comparisons.length} of ${this.opts.minSamples} samples)`,
      );
    } finally {
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Ends mirroring at once; a verdict not yet given rejects with INTERRUPTED. */
  stop(): void {
    if (this.decided) return;
    this.decided = this.figures();
    this.end();
    this.settle({ stopped: true });
  }

  private decide(): void {
    if (this.decided) return;
    const figures = this.figures();
    this.decided = figures;
    this.end();
    const problems = judge(figures, this.opts, this.opts, this.opts.maxDurationSeconds);
    if (problems.length === 0) {
      this.settle({ verdict: { ok: true, figures } });
      return;
    }
    const serving = [...this.servingVersions].join(", ") || "the serving version";
    const message = `shadow comparison of ${this.candidate.version} with ${serving}: ${problems.join("; ")}`;
    this.settle({ verdict: { ok: false, error: new EdgeError("SHADOW_MISMATCH", message), figures } });
  }

  private end(): void {
    clearTimeout(this.timer);
    this.mirrors.stop();
    this.onEnd(this);
  }
}
