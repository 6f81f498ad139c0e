import { readStatus } from "../telemetry/status-snapshot.js";
import { type CliContext, EXIT, formatBytes, printJson } from "./context.js";
import { describeDelivery } from "./delivery-text.js";

/** `edge-agent status`: exit 0 when healthy, 1 when degraded (each problem listed). */
export async function statusCommand(ctx: CliContext): Promise<number> {
  const s = await readStatus(ctx.config);
  if (ctx.json) {
    printJson(ctx, s);
    return s.healthy ? EXIT.OK : EXIT.FAILED;
  }
  const lines: string[] = [];
  const row = (label: string, value: string): void => {
    lines.push(`${`${label}:`.padEnd(18)}${value}`);
  };
  row("Device", `${s.deviceId}  (${s.name} on channel ${s.channel})`);
  row("State", s.state === "WITHDRAWN" && !s.healthy ? "WITHDRAWN, DEGRADED" : s.state);
  row("Active version", s.activeVersion ?? "none");
  if (s.withdrawn) {
    const plan = s.withdrawn.action === "stay" ? "kept running (the publisher's choice)" : "moving to the channel's release";
    row("Withdrawn", `${s.withdrawn.reason} (since ${s.withdrawn.withdrawnAt}; ${plan})`);
  }
  row("Previous version", s.previousVersion ?? "none");
  row(
    "Phase",
    s.attempt ? `${s.phase} (attempt ${s.attempt.id}: ${s.attempt.fromVersion ?? "none"} -> ${s.attempt.toVersion})` : s.phase,
  );
  row(
    "Service health",
    s.health.ok
      ? `ready (HTTP ${s.health.status}, ${s.health.latencyMs} ms)`
      : `NOT READY: ${s.health.error ?? `HTTP ${s.health.status}`}`,
  );
  if (s.hold) row("Hold", `updates held (${s.hold.source}${s.hold.reason ? `: ${s.hold.reason}` : ""})`);
  row("Daemon", s.daemon.running ? `running (pid ${s.daemon.pid}, ${s.daemon.role})` : "not running");
  if (s.lastCheck) {
    row(
      "Last check",
      `${s.lastCheck.at}  ${s.lastCheck.outcome}${s.lastCheck.errorCode ? ` ${s.lastCheck.errorCode}: ${s.lastCheck.error}` : ""}`,
    );
  } else row("Last check", "never");
  const u = s.lastUpdate;
  if (u) {
    const err = u.errorCode ? `  ${u.errorCode}: ${u.error}` : "";
    row("Last update", `${u.fromVersion ?? "none"} -> ${u.toVersion}  ${u.result ?? "in progress"}${err}`);
    if (u.rollbackErrorCode) row("Rollback error", `${u.rollbackErrorCode}: ${u.rollbackError}`);
    if (u.delivery) row("Delivery", describeDelivery(u));
  } else row("Last update", "none");
  if (s.denied.length === 0) row("Deny-list", "empty");
  for (const [i, d] of s.denied.entries())
    row(i === 0 ? "Deny-list" : "", `${d.version}  ${d.errorCode}: ${d.reason} (since ${d.deniedAt})`);
  row(
    "Free disk",
    s.disk.availableBytes !== undefined ? `${formatBytes(s.disk.availableBytes)} on ${s.disk.mount}` : `unknown: ${s.disk.error}`,
  );
  for (const p of s.problems) row("Problem", p);
  ctx.out(`${lines.join("\n")}\n`);
  return s.healthy ? EXIT.OK : EXIT.FAILED;
}
