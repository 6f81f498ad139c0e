import type { ReporterTimers } from "../../agent/telemetry/status-reporter.js";

interface Armed {
  at: number;
  order: number;
  fn: () => void;
}

/** Lets callbacks started by a timer run their promise chains (not real I/O) to the end. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A monotonic clock and timers that move only when the test says so: what a
 * component does "within N ms" becomes exact, whatever the machine's load.
 */
export class ManualTimers implements ReporterTimers {
  private at = 0;
  private order = 0;
  private armed: Armed[] = [];

  now(): number {
    return this.at;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.at + Math.max(0, ms), order: this.order++, fn };
    this.armed.push(timer);
    return () => {
      this.armed = this.armed.filter((t) => t !== timer);
    };
  }

  /** Moves time on by `ms`, firing each timer that falls due in order, each one's work settled before the next. */
  async advance(ms: number): Promise<void> {
    const end = this.at + ms;
    for (;;) {
      const next = this.armed.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!next) break;
      this.armed = this.armed.filter((t) => t !== next);
      this.at = next.at;
      next.fn();
      await settle();
    }
    this.at = end;
    await settle();
  }
}
