import { cliProgress, type Progress } from "../../shared/progress.js";
import type { AttemptRow } from "../state/store.js";
import type { AgentOptions } from "../wiring/agent-graph.js";
import type { CliContext } from "./context.js";

export type ProgressHooks = Required<Pick<AgentOptions, "onDownloadProgress" | "onStagingProgress" | "onAttempt">> & {
  /** Ends a bar still drawn (the command is about to print its answer). */
  finish(): void;
};

/**
 * What `check`, `install` and `rollback` show on stderr while they work in
 * this process: a bar (or plain lines) for the download and for staging, and
 * one line per phase the attempt enters. Nothing at all without a stream.
 */
export function progressHooks(ctx: CliContext): ProgressHooks {
  const stream = ctx.progress;
  let bar: { label: string; progress: Progress } | undefined;
  let phase: string | undefined;
  const barFor = (label: string): Progress | undefined => {
    if (!stream) return undefined;
    if (bar?.label !== label) {
      bar?.progress.finish();
      bar = { label, progress: cliProgress(stream, label, ctx.json) };
    }
    return bar.progress;
  };
  const finish = () => {
    bar?.progress.finish();
    bar = undefined;
  };
  return {
    onDownloadProgress: (done, total) => barFor("download")?.update(done, total),
    onStagingProgress: (done, total) => barFor("staging")?.update(done, total),
    onAttempt: (row: AttemptRow) => {
      ctx.agentOptions.onAttempt?.(row);
      if (!stream || ctx.json || row.phase === phase) return;
      phase = row.phase;
      finish();
      stream.write(`${row.phase}: ${row.fromVersion ?? "none"} -> ${row.toVersion}\n`);
    },
    finish,
  };
}
