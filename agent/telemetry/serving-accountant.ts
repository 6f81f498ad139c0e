import { performance } from "node:perf_hooks";
import type { Logger } from "../logging.js";
import type { HealthReading } from "../service/health-watch.js";
import type { StateStore } from "../state/store.js";

export interface ServingAccountantOptions {
  store: Pick<StateStore, "addServingTime">;
  /** The version `current` names right now; undefined when nothing is installed. */
  activeVersion: () => Promise<string | undefined>;
  /** True while an update attempt runs: it owns the service then, and that time counts as nothing. */
  busy: () => boolean;
  /** The longest pause between two readings that is still counted; a longer one (a stopped or suspended daemon) counts as nothing. */
  maxGapMs: number;
  /** Counted time is written to the journal once this much has gathered, and on a version change, flush() and stop(). */
  flushEveryMs: number;
  logger: Logger;
  /** Milliseconds on a monotonic clock: a wall clock that NTP steps would invent or lose hours. */
  monotonicMs?: () => number;
}

/** The previous reading: the start of the next counted period. */
interface Mark {
  version: string;
  ready: boolean;
  atMs: number;
  epoch: number;
}

/**
 * Healthy and unhealthy serving time per version, from the health watch's
 * readings. The period between two consecutive readings counts for the
 * version active at both: healthy when both found the service ready, else
 * unhealthy. It counts as nothing when the active version changed between
 * them, an update attempt ran (busy, or interrupt() from its journaled
 * phases), or the gap exceeds maxGapMs. The first reading after start
 * begins a period and counts nothing, so the time the daemon was down is
 * never counted. Totals are written through the store and survive restarts.
 */
export class ServingAccountant {
  private readonly monotonic: () => number;
  private last: Mark | undefined;
  /** Bumped by interrupt(): a reading taken before it never closes a period after it. */
  private epoch = 0;
  private pending: { version: string; healthyMs: number; unhealthyMs: number } | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ServingAccountantOptions) {
    this.monotonic = opts.monotonicMs ?? (() => performance.now());
  }

  /** Counts the period since the previous reading. Never rejects: a failure is logged and the period dropped. */
  observe(reading: HealthReading): Promise<void> {
    const atMs = this.monotonic();
    const busy = this.opts.busy();
    const epoch = this.epoch;
    this.chain = this.chain
      .then(() => this.apply(reading.state === "ready", atMs, busy, epoch))
      .catch((err: unknown) => {
        this.last = undefined;
        this.opts.logger.warn({ err }, "serving time: could not count a health reading");
      });
    return this.chain;
  }

  /** Something touched the service (an update attempt's phase): the next reading starts a new period. */
  interrupt(): void {
    this.epoch++;
    this.last = undefined;
  }

  /** Writes what has gathered to the journal. */
  flush(): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p || p.healthyMs + p.unhealthyMs === 0) return;
    try {
      this.opts.store.addServingTime(p.version, p.healthyMs, p.unhealthyMs);
    } catch (err) {
      this.opts.logger.warn({ err, version: p.version }, "serving time: could not write to the journal");
    }
  }

  /** Waits for the readings in hand, then writes what they counted (a status about to be read carries it). */
  async settle(): Promise<void> {
    await this.chain;
    this.flush();
  }

  /** settle(), and the next reading starts a new period. */
  async stop(): Promise<void> {
    await this.settle();
    this.interrupt();
  }

  private async apply(ready: boolean, atMs: number, busy: boolean, epoch: number): Promise<void> {
    const prev = this.last;
    this.last = undefined;
    if (busy || epoch !== this.epoch) return;
    const version = await this.opts.activeVersion();
    // interrupt() may have come while the link was read.
    if (version === undefined || epoch !== this.epoch) return;
    this.last = { version, ready, atMs, epoch };
    if (!prev || prev.version !== version || prev.epoch !== epoch) return;
    const gapMs = atMs - prev.atMs;
    if (gapMs <= 0 || gapMs > this.opts.maxGapMs) return;
    const healthy = prev.ready && ready;
    this.credit(version, healthy ? gapMs : 0, healthy ? 0 : gapMs);
  }

  private credit(version: string, healthyMs: number, unhealthyMs: number): void {
    if (this.pending && this.pending.version !== version) this.flush();
    const p = this.pending ?? { version, healthyMs: 0, unhealthyMs: 0 };
    p.healthyMs += healthyMs;
    p.unhealthyMs += unhealthyMs;
    this.pending = p;
    if (p.healthyMs + p.unhealthyMs >= this.opts.flushEveryMs) this.flush();
  }
}
