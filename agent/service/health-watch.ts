import { EventEmitter } from "node:events";
import { sleep } from "../../shared/backoff.js";
import { linkSignals } from "../linked-signal.js";
import type { Logger } from "../logging.js";
import type { ServiceController } from "./controller.js";
import { describeProbe, type ProbeResult, probeOnce } from "./health.js";

/**
 * ready: the health URL answered 2xx. not-ready: it did not (starting, 503,
 * refused, no answer in time). crashed: a supervised service exited on its own
 * and has not been started again yet.
 */
export type HealthState = "ready" | "not-ready" | "crashed";

export interface HealthReading {
  state: HealthState;
  /** What the fleet status shows: the probe's answer, or the exit for a crash. */
  health: { ok: boolean; status?: number; error?: string };
  probe: ProbeResult;
  at: string;
}

export interface HealthWatchOptions {
  url: string;
  /** Pause between probes while no update attempt runs. */
  intervalMs: number;
  /** One probe's time limit. */
  timeoutMs: number;
  /** Knows whether a supervised service died; in command mode it never says so. */
  service: Pick<ServiceController, "describe" | "crashSignal">;
  /** True while an update attempt runs: its own health checks own the service then. */
  busy: () => boolean;
  logger: Logger;
  now?: () => Date;
}

/**
 * Probes the service's health URL now and then while the device is idle and
 * emits `change` whenever the state moves (including the first reading, and
 * the first ready after start), so the retained status follows the service
 * instead of waiting for a timer. `check()` probes at once; every probe, the
 * watch's own or one the status reporter asks for, goes through the same
 * state, so the status and the change events never disagree for long.
 * `reading` is emitted for every probe applied (after `change`, when it moved
 * too): the serving-time accounting counts the time between them.
 */
export class HealthWatch extends EventEmitter<{ change: [HealthReading]; reading: [HealthReading] }> {
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  private last: HealthReading | undefined;
  /** Probes are applied in the order they started: a slow old probe must not overwrite a newer answer. */
  private started = 0;
  private applied = 0;
  private readonly now: () => Date;

  constructor(private readonly opts: HealthWatchOptions) {
    super();
    this.now = opts.now ?? (() => new Date());
  }

  start(): void {
    if (this.loop || this.stopper.signal.aborted) return;
    const signal = this.stopper.signal;
    this.loop = (async () => {
      while (!signal.aborted) {
        // A crash wakes the loop at once; a crash signal that already fired would wake it forever.
        const crash = this.opts.service.crashSignal();
        const wake = linkSignals(signal, crash.aborted ? undefined : crash);
        if (!this.opts.busy()) await this.probeAndApply(signal).catch(() => {});
        await sleep(this.opts.intervalMs, wake.signal).catch(() => {});
        wake.dispose();
      }
    })();
  }

  /**
   * Probes now, updates the state (emitting `change` if it moved) and returns
   * the reading. Works after stop() too (the reporter's last status), bounded
   * by the probe's time limit.
   */
  check(): Promise<HealthReading> {
    return this.probeAndApply();
  }

  /** Ends the periodic probes (one in flight is abandoned) and drops the listeners. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
    this.removeAllListeners();
  }

  /** Throws only when `signal` aborts. */
  private async probeAndApply(signal?: AbortSignal): Promise<HealthReading> {
    const ticket = ++this.started;
    const probe = await probeOnce(this.opts.url, this.opts.timeoutMs, signal);
    const reading = this.readingOf(probe);
    if (ticket < this.applied) return reading;
    this.applied = ticket;
    const before = this.last;
    this.last = reading;
    if (before?.state !== reading.state) {
      this.opts.logger.info(
        { from: before?.state ?? null, to: reading.state, probe: describeProbe(probe) },
        "service health changed",
      );
      this.emit("change", reading);
    }
    this.emit("reading", reading);
    return reading;
  }

  private readingOf(probe: ProbeResult): HealthReading {
    const at = this.now().toISOString();
    if (probe.ok) return { state: "ready", health: { ok: true, status: probe.status }, probe, at };
    const service = this.opts.service.describe();
    const exit = service.lastExit;
    if (service.mode === "supervise" && !service.running && exit) {
      const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
      const error = `the service exited (${how}) at ${exit.at} and is being restarted`;
      return { state: "crashed", health: { ok: false, error }, probe, at };
    }
    // The shape the status always had: the HTTP status of an answer, or why none came.
    const health = {
      ok: false,
      ...(probe.status === undefined ? {} : { status: probe.status }),
      ...(probe.error === undefined ? {} : { error: probe.error }),
    };
    return { state: "not-ready", health, probe, at };
  }
}
