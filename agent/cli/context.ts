import type { ProgressStream } from "../../shared/progress.js";
import type { AgentOptions } from "../agent.js";
import type { AgentConfig } from "../config.js";
import type { Logger } from "../logging.js";

/** What every technician command receives from the composition root. */
export interface CliContext {
  config: AgentConfig;
  json: boolean;
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
  logger: Logger;
  agentOptions: AgentOptions;
  agentVersion: string;
  out: (text: string) => void;
  /** stdout's width when it is a terminal; without it, long rows are not wrapped. */
  columns?: number;
  /** Where progress goes (stderr); without it a command shows none. */
  progress?: ProgressStream;
}

// The exit codes both binaries share; the commands import them from here.
export { EXIT } from "../../shared/exit-codes.js";

export function printJson(ctx: CliContext, value: unknown): void {
  ctx.out(`${JSON.stringify(value, null, 2)}\n`);
}

export function formatBytes(bytes: number | undefined | null): string {
  if (bytes === undefined || bytes === null) return "-";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let unit = "B";
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${unit}`;
}

export function formatDuration(fromIso: string | null | undefined, toIso: string | null | undefined): string {
  if (!fromIso || !toIso) return "-";
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (!Number.isFinite(ms)) return "-";
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** Left-aligned columns for a terminal. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
