/** What the progress bar writes to: process.stderr in both CLIs. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  update(done: number, total: number): void;
  finish(): void;
}

export interface ProgressOptions {
  /**
   * When the stream is not a terminal: write a plain line (no control
   * characters) at the first update, then at most this often, and at the end.
   * Unset: write nothing off a terminal.
   */
  plainEveryMs?: number;
  /**
   * Off a terminal, say nothing until the work has run this long (then lines
   * as above, the end included): a command done in a moment, or failing in
   * one, prints its one answer or its one error line and nothing else.
   */
  plainAfterMs?: number;
}

const MIB = 1024 * 1024;
const REDRAW_MS = 100;
/** How often the CLIs write a plain progress line to a pipe or log file. */
export const PLAIN_PROGRESS_MS = 5000;

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  return `${m}:${String(total % 60).padStart(2, "0")}`;
}

/** MiB done of total, MiB/s, ETA. Pure, for tests. */
export function progressFigures(done: number, total: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? done / MIB / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? (total - done) / MIB / rate : Number.POSITIVE_INFINITY;
  return `${(done / MIB).toFixed(1)}/${(total / MIB).toFixed(1)} MiB ${rate.toFixed(1)} MiB/s ETA ${formatSeconds(eta)}`;
}

/** One line: bar, MiB done of total, MiB/s, ETA. Pure, for tests. */
export function formatProgress(done: number, total: number, elapsedMs: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${progressFigures(done, total, elapsedMs)}`;
}

/**
 * A progress bar redrawn in place on a terminal, at most ten times a second.
 * When the stream is not a TTY (a pipe, a log file, CI) it writes nothing, or
 * with `plainEveryMs` plain periodic lines, so logs and `--json` consumers
 * never see control characters.
 */
export function createProgress(
  stream: ProgressStream,
  label: string,
  clock: () => number = Date.now,
  opts: ProgressOptions = {},
): Progress {
  if (!stream.isTTY) {
    return opts.plainEveryMs === undefined
      ? { update: () => undefined, finish: () => undefined }
      : plainLines(stream, label, clock, opts.plainEveryMs, opts.plainAfterMs ?? 0);
  }
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

function plainLines(stream: ProgressStream, label: string, clock: () => number, everyMs: number, afterMs: number): Progress {
  const started = clock();
  let last: number | undefined;
  let ended = false;
  return {
    update(done, total) {
      const now = clock();
      const end = done >= total;
      if (now - started < afterMs) return;
      if (ended || (!end && last !== undefined && now - last < everyMs)) return;
      last = now;
      ended = end;
      stream.write(`${label} ${progressFigures(done, total, now - started)}\n`);
    },
    finish: () => undefined,
  };
}

/**
 * The commands' progress on stderr: a bar on a terminal; off one, plain lines
 * every few seconds, except with `--json`, whose consumers get nothing but
 * the JSON on stdout (and stderr stays for errors).
 */
export function cliProgress(
  stream: ProgressStream,
  label: string,
  json: boolean,
  extra: Pick<ProgressOptions, "plainAfterMs"> = {},
): Progress {
  return createProgress(stream, label, Date.now, json ? {} : { plainEveryMs: PLAIN_PROGRESS_MS, ...extra });
}
