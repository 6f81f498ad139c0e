import type { StatusSnapshot } from "../telemetry/status-snapshot.js";
import { formatBytes } from "./context.js";
import { describeDelivery, describeHandover } from "./delivery-text.js";

const LABEL_WIDTH = 18;

/**
 * The human view of `edge-agent status`, from the same snapshot `--json`
 * prints. Pure. The first line sums up the device as it is now (not as the
 * last check found it); each message is said once, the later rows pointing
 * back at the first; long values wrap at `width` (a terminal's columns) with
 * the label column kept, and are never cut. Without a width (stdout is not a
 * terminal) each row stays one line, whole, for grep.
 */
export function statusText(s: StatusSnapshot, width?: number): string {
  const rows: [string, string][] = [];
  const said = new Map<string, string>();
  const row = (label: string, value: string): void => {
    rows.push([label, value]);
  };
  /** A message shown before under another label is referred to, not repeated. */
  const once = (message: string, where: string): string => {
    const first = said.get(message);
    if (first !== undefined) return `(as under ${first})`;
    said.set(message, where);
    return message;
  };

  row("Summary", summaryOf(s));
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
  const u = s.lastUpdate;
  if (u) {
    const err = u.errorCode && u.error ? `  ${u.errorCode}: ${once(u.error, "Last update")}` : "";
    row("Last update", `${u.fromVersion ?? "none"} -> ${u.toVersion}  ${u.result ?? "in progress"}${err}`);
    if (u.rollbackErrorCode && u.rollbackError)
      row("Rollback error", `${u.rollbackErrorCode}: ${once(u.rollbackError, "Rollback error")}`);
    if (u.delivery) row("Delivery", describeDelivery(u));
    const swap = describeHandover(u.handover);
    if (swap) row("Swap", swap);
  } else row("Last update", "none");
  if (s.lastCheck) {
    const c = s.lastCheck;
    const err = c.errorCode ? ` ${c.errorCode}: ${once(c.error ?? "", "Last check")}` : "";
    row("Last check", `${c.at}  ${referBack(checkOutcomeNow(s), said)}${err}`);
  } else row("Last check", "never");
  if (s.denied.length === 0) row("Deny-list", "empty");
  for (const [i, d] of s.denied.entries())
    row(i === 0 ? "Deny-list" : "", `${d.version}  ${d.errorCode}: ${once(d.reason, "Deny-list")} (since ${d.deniedAt})`);
  row(
    "Free disk",
    s.disk.availableBytes !== undefined ? `${formatBytes(s.disk.availableBytes)} on ${s.disk.mount}` : `unknown: ${s.disk.error}`,
  );
  // The summary already gives the first problem when it says DEGRADED.
  for (const p of summaryNamesProblem(s) ? s.problems.slice(1) : s.problems) row("Problem", p);
  return `${rows.map(([label, value]) => formatRow(label, value, width)).join("\n")}\n`;
}

/** One sentence on the device now: updating, degraded (and the first reason), withdrawn, or healthy and what came last. */
export function summaryOf(s: StatusSnapshot): string {
  const a = s.attempt;
  if (a) {
    const verb = a.kind === "rollback" || s.phase === "rolling_back" ? "ROLLING BACK" : "UPDATING";
    return `${verb} ${a.fromVersion ?? "none"} -> ${a.toVersion} (${s.phase})`;
  }
  if (!s.healthy) {
    const more = s.problems.length > 1 ? ` (and ${s.problems.length - 1} more below)` : "";
    return `DEGRADED: ${s.problems[0] ?? "unknown problem"}${more}`;
  }
  const serving = `${s.activeVersion ?? "nothing"} serving and ready`;
  if (s.withdrawn) return `WITHDRAWN: ${serving}, but the publisher withdrew it`;
  const u = s.lastUpdate;
  const notes: string[] = [];
  if (u && u.result !== "succeeded" && u.toVersion !== s.activeVersion) {
    const denied = s.denied.some((d) => d.version === u.toVersion) ? ", deny-listed" : "";
    notes.push(`${u.toVersion} ${u.result?.replace("_", " ")}${u.errorCode ? ` (${u.errorCode})` : ""}${denied}`);
  }
  if (s.hold) notes.push("updates held");
  const outcome = s.lastCheck?.outcome ?? "";
  if (outcome.startsWith("up-to-date")) notes.push(`up to date with channel ${s.channel}`);
  return `HEALTHY: ${serving}${notes.length > 0 ? `; ${notes.join("; ")}` : ""}`;
}

/** A message already shown inside a longer text (a deny-list check's detail quotes the failure) is referred to, not repeated. */
function referBack(text: string, said: Map<string, string>): string {
  let out = text;
  for (const [message, where] of said) if (message.length >= 40) out = out.split(message).join(`(as under ${where})`);
  return out;
}

function summaryNamesProblem(s: StatusSnapshot): boolean {
  return s.attempt === null && !s.healthy;
}

/**
 * The last check's outcome as true now: a check that found an install starting
 * or already running ("installing 1.0.0", "busy: already installing 1.0.0")
 * says how that attempt ended, once it has.
 */
function checkOutcomeNow(s: StatusSnapshot): string {
  const c = s.lastCheck;
  if (!c) return "";
  const found = /^(?:installing|busy: already installing) (\S+)$/.exec(c.outcome)?.[1];
  const u = s.lastUpdate;
  if (found === undefined || s.attempt !== null || !u || u.toVersion !== found || !u.finishedAt) return c.outcome;
  if (Date.parse(u.finishedAt) < Date.parse(c.at)) return c.outcome;
  return `found ${found}; that attempt has ended: ${u.result ?? "unknown"} at ${u.finishedAt}`;
}

function formatRow(label: string, value: string, width: number | undefined): string {
  const head = label ? `${label}:`.padEnd(LABEL_WIDTH) : " ".repeat(LABEL_WIDTH);
  const room = width !== undefined ? width - LABEL_WIDTH : Number.POSITIVE_INFINITY;
  if (room < 20 || value.length <= room) return `${head}${value}`;
  return wrap(value, room)
    .map((line, i) => (i === 0 ? head : " ".repeat(LABEL_WIDTH)) + line)
    .join("\n");
}

/** Breaks at spaces where it can, inside a word only when one is longer than a line; drops nothing. */
export function wrap(text: string, room: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > room) {
    const cut = rest.lastIndexOf(" ", room);
    const at = cut > 0 ? cut : room;
    lines.push(rest.slice(0, at));
    rest = cut > 0 ? rest.slice(at + 1) : rest.slice(at);
  }
  lines.push(rest);
  return lines;
}
