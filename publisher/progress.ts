/** What the progress bar writes to: process.stderr in the CLI. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  update(done: number, total: number): void;
  finish(): void;
}

const MIB = 1024 * 1024;
const REDRAW_MS = 100;

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  return `${m}:${String(total % 60).padStart(2, "0")}`;
}

/** One line: bar, MiB done of total, MiB/s, ETA. Pure, for tests. */
export function formatProgress(done: number, total: number, elapsedMs: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? done / MIB / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? (total - done) / MIB / rate : Number.POSITIVE_INFINITY;
  return (
    `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ` +
    `${(done / MIB).toFixed(1)}/${(total / MIB).toFixed(1)} MiB ` +
    `${rate.toFixed(1)} MiB/s ETA ${formatSeconds(eta)}`
  );
}

/**
 * A progress bar redrawn in place on a terminal, at most ten times a second.
 * When the stream is not a TTY (a pipe, a log file, CI) it writes nothing, so
 * logs and `--json` consumers never see control characters.
 */
export function createProgress(stream: ProgressStream, label: string, clock: () => number = Date.now): Progress {
  if (!stream.isTTY) return { update: () => undefined, finish: () => undefined };
  const started = clock();
  let lastDraw = 0;
  let drawn = false;
  const draw = (done: number, total: number) => {
    lastDraw = clock();
    drawn = true;
    stream.write(`\r${label} ${formatProgress(done, total, lastDraw - started)}\u001b[K`);
  };
  return {
    update(done, total) {
      if (done >= total || clock() - lastDraw >= REDRAW_MS) draw(done, total);
    },
    finish() {
      if (drawn) stream.write("\n");
    },
  };
}
