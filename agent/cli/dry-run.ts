import { resolve } from "node:path";
import { EdgeError } from "../../shared/errors.js";
import { type DryRunReport, dryRunCheck, dryRunInstall } from "../dry-run/dry-run.js";
import { systemClock, systemDisk, systemMemory } from "../wiring/system-ports.js";
import { type CliContext, EXIT, formatBytes, printJson } from "./context.js";
import { progressHooks } from "./progress-hooks.js";

/**
 * `check --dry-run` and `install FILE --dry-run`: in this process (a running
 * daemon is neither asked nor disturbed), every check up to staging
 * verification, then everything it wrote is removed. Exit 0 when the real
 * command would go ahead (or, for check, the device is up to date), 1 when not.
 */
export async function dryRunCommand(ctx: CliContext, command: "check" | "install"): Promise<number> {
  const hooks = progressHooks(ctx);
  const deps = {
    config: ctx.config,
    logger: ctx.logger,
    clock: ctx.agentOptions.ports?.clock ?? systemClock,
    disk: ctx.agentOptions.ports?.disk ?? systemDisk,
    memory: ctx.agentOptions.ports?.memory ?? systemMemory,
    signal: new AbortController().signal,
    onDownloadProgress: hooks.onDownloadProgress,
    onStagingProgress: hooks.onStagingProgress,
  };
  let report: DryRunReport;
  try {
    report = command === "check" ? await dryRunCheck(deps) : await dryRunInstall(deps, installTarget(ctx));
  } finally {
    hooks.finish();
  }
  if (ctx.json) printJson(ctx, { via: "local", ...report });
  else ctx.out(describeDryRun(report));
  return report.ok ? EXIT.OK : EXIT.FAILED;
}

function installTarget(ctx: CliContext): string {
  const target = ctx.positionals[0];
  if (!target) throw new EdgeError("USAGE", "name the bundle file (or a folder holding one) to install");
  return resolve(target);
}

/** The human view: what was checked, and what a real run would do. */
export function describeDryRun(r: DryRunReport): string {
  const lines = [`dry run: ${r.version}${r.bundle ? ` from ${r.bundle}` : ""} (active: ${r.activeVersion ?? "none"})`];
  if (r.decision)
    lines.push(`channel:   sequence ${r.sequence}: ${r.decision.action === "none" ? r.decision.detail : "install"}`);
  const s = r.staging;
  if (s) {
    lines.push(`delivery:  ${s.delivery.detail}`);
    if (s.deltaFallback)
      lines.push(`delta:     given up (${s.deltaFallback.code}: ${s.deltaFallback.message}); the bundle instead`);
    lines.push(`download:  ${formatBytes(s.bytesDownloaded)}`);
    lines.push(
      s.ok
        ? "staging:   every file verified against the signed manifest"
        : `staging:   FAILED ${s.error?.code}: ${s.error?.message}`,
    );
  }
  lines.push(`would:     ${r.wouldDo}`);
  lines.push("nothing was changed: the dry run's downloads and staging are removed, the journal is not written");
  return `${lines.join("\n")}\n`;
}
