import { describeError, EdgeError, errorJson } from "../../shared/errors.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { type CliIo, type Flags, mqttFlags, repoFlag, report, str } from "../cli-run.js";
import { integerFlag, positiveNumberFlag, required } from "../cli-spec.js";
import { channelsTable, formatRollout, listChannels } from "../commands/channels.js";
import { keysInit, keysRotate } from "../commands/keys.js";
import { promote } from "../commands/promote.js";
import { type RefreshResult, refreshPointers } from "../commands/refresh.js";
import {
  changeRollout,
  DEFAULT_WATCH_SECONDS,
  type RolloutAction,
  type RolloutChange,
  type RolloutOptions,
  rolloutWithHalt,
} from "../commands/rollout.js";
import { DEFAULT_FLEET_WAIT_MS } from "../fleet/fleet-command.js";
import { textTable } from "../text-table.js";
import { listWithdrawalLists } from "../withdraw/withdrawal-expiry.js";
import type { AbortTarget } from "./channel-history.js";
import { parseFailureRate } from "./halt-policy.js";
import {
  describeEvidence,
  type PromotionEvidence,
  type PromotionPolicy,
  PromotionRefused,
  parseMaxFailureRate,
} from "./promotion-evidence.js";

/** The CLI side of promote, channels, rollout and keys (flags in, one report out). */

function percentFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new EdgeError("USAGE", `--percent must be a number from 0 to 100 (found ${JSON.stringify(value)})`);
  }
  return n;
}

function list(flags: Flags, key: string): string[] {
  const v = flags[key];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
}

const ABORT_SOURCE: Record<AbortTarget["source"], string> = {
  history: "back to the last healthy release in the channel history",
  repository: "back to the highest built release below it: the channel history has a gap",
  operator: "back to the release named by --to",
};

function pointerLine(p: RolloutChange["pointer"]): string {
  const share = formatRollout(p.rollout ?? { percent: 100, paused: false });
  return `${p.name} ${p.channel} -> ${p.version} at ${share} (sequence ${p.sequence}, expires ${p.expiresAt})`;
}

function changeJson(c: RolloutChange): object {
  return { ...c.pointer, path: c.path, previousVersion: c.previousVersion, abortedFrom: c.abortedFrom, mqtt: c.mqtt };
}

/** --require-healthy-hours, --min-devices and --max-failure-rate, all three or none. */
function promotionPolicy(flags: Flags): PromotionPolicy | undefined {
  const names = ["require-healthy-hours", "min-devices", "max-failure-rate"];
  const given = names.filter((f) => str(flags, f) !== undefined);
  if (given.length === 0) {
    if (str(flags, "wait-ms") !== undefined) throw new EdgeError("USAGE", "--wait-ms goes with --require-healthy-hours");
    return undefined;
  }
  if (given.length < names.length) {
    const missing = names.filter((f) => !given.includes(f)).map((f) => `--${f}`);
    throw new EdgeError("USAGE", `--${given.join(", --")} needs ${missing.join(" and ")} too (see edge-publish promote --help)`);
  }
  return {
    healthyHours: positiveNumberFlag(str(flags, "require-healthy-hours"), "require-healthy-hours") as number,
    minDevices: integerFlag(str(flags, "min-devices"), "min-devices", 1, 1_000_000) as number,
    maxFailureRate: parseMaxFailureRate(str(flags, "max-failure-rate") as string),
  };
}

function deviceRows(e: PromotionEvidence): string {
  if (e.devices.length === 0) return `no device on ${e.channel} reports ${e.name} ${e.version}\n`;
  return textTable(
    ["DEVICE", "RUNNING", "HEALTHY H", "UNHEALTHY H", "ROLLBACKS", "DENIED", "COUNTS"],
    e.devices.map((d) => [
      d.deviceId,
      d.running ? "yes" : "no",
      String(d.healthyHours),
      String(d.unhealthyHours),
      String(d.rollbacks),
      d.denied ? "yes" : "no",
      d.failed ? "failed" : d.qualifies ? "qualifies" : d.running ? "too few hours" : "-",
    ]),
  );
}

export async function runPromote(flags: Flags, io: CliIo): Promise<number> {
  const policy = promotionPolicy(flags);
  const waitMs = integerFlag(str(flags, "wait-ms"), "wait-ms", 0, 600_000) ?? DEFAULT_FLEET_WAIT_MS;
  let r: Awaited<ReturnType<typeof promote>>;
  try {
    r = await promote({
      repoDir: await repoFlag(flags, "promote"),
      name: required(str(flags, "name"), "name", "promote"),
      version: required(str(flags, "version"), "version", "promote"),
      from: required(str(flags, "from"), "from", "promote"),
      to: required(str(flags, "to"), "to", "promote"),
      keyPath: required(str(flags, "key"), "key", "promote"),
      percent: percentFlag(str(flags, "percent")),
      expiresInDays: positiveNumberFlag(str(flags, "expires-days"), "expires-days"),
      mqtt: mqttFlags(flags, "promote", policy !== undefined),
      force: flags.force === true,
      by: str(flags, "by"),
      reason: str(flags, "reason"),
      require: policy && { policy, waitMs, onWarning: (text) => io.warn(`edge-publish: warning: ${text}\n`) },
    });
  } catch (err) {
    if (!(err instanceof PromotionRefused)) throw err;
    io.warn(`edge-publish: ${describeError(err)}\n`);
    report(io, { promoted: false, ...errorJson(err), evidence: err.evidence }, deviceRows(err.evidence));
    return 1;
  }
  const evidence = r.evidence ? `${describeEvidence(r.evidence)}\n` : "";
  report(
    io,
    {
      promoted: true,
      ...r.pointer,
      path: r.path,
      fromSequence: r.fromSequence,
      mqtt: r.mqtt,
      promotion: r.promotion,
      evidence: r.evidence,
    },
    `${evidence}promoted: ${pointerLine(r.pointer)}\nwrote ${r.path}\n${r.mqtt ? `published to ${r.mqtt.topic} (retained, acknowledged)\n` : ""}`,
  );
  return 0;
}

export async function runChannels(flags: Flags, io: CliIo): Promise<number> {
  const opts = {
    repoDir: await repoFlag(flags, "channels"),
    name: str(flags, "name"),
    warnDays: integerFlag(str(flags, "warn-days"), "warn-days", 0, 3650),
  };
  const r = await listChannels(opts);
  // The withdrawal lists expire as pointers do, and an expired one stops every channel check.
  const lists = await listWithdrawalLists(opts);
  const problems = [...r.problems, ...lists.problems];
  for (const p of problems) io.warn(`edge-publish: skipped ${p.path}: ${p.error}\n`);
  const warnings = [...r.warnings, ...lists.warnings];
  const table = r.channels.length === 0 ? "no channel pointers\n" : channelsTable(r.channels);
  report(
    io,
    { channels: r.channels, withdrawalLists: lists.lists, warnings, problems },
    table + warnings.map((w) => `${w}\n`).join(""),
  );
  return 0;
}

function refreshText(r: RefreshResult): string {
  const verb = r.dryRun ? "would re-sign" : "re-signed";
  const lines = r.refreshed.map(
    (p) =>
      `${verb} ${p.name} ${p.channel} -> ${p.version}: sequence ${p.fromSequence} -> ${p.sequence}, expiry ${p.previousExpiresAt} -> ${p.expiresAt}${p.mqtt ? `; published to ${p.mqtt.topic}` : ""}\n`,
  );
  for (const l of r.withdrawalLists.refreshed) {
    lines.push(
      `${verb} the withdrawal list of ${l.name} (${l.entries} withdrawn): sequence ${l.fromSequence} -> ${l.sequence}, expiry ${l.previousExpiresAt} -> ${l.expiresAt}${l.mqtt ? `; published to ${l.mqtt.topic}` : ""}\n`,
    );
  }
  const w = r.withdrawalLists;
  const summary = `${r.refreshed.length} pointer(s) and ${w.refreshed.length} withdrawal list(s) ${verb}; ${r.kept.length} pointer(s) and ${w.kept.length} list(s) not due within ${r.beforeDays} days\n`;
  return lines.join("") + summary;
}

export async function runRefresh(flags: Flags, io: CliIo): Promise<number> {
  const r = await refreshPointers({
    repoDir: await repoFlag(flags, "refresh"),
    keyPath: required(str(flags, "key"), "key", "refresh"),
    name: str(flags, "name"),
    beforeDays: integerFlag(str(flags, "before-days"), "before-days", 0, 3650),
    expiresInDays: positiveNumberFlag(str(flags, "expires-days"), "expires-days"),
    dryRun: flags["dry-run"] === true,
    mqtt: mqttFlags(flags, "refresh", false),
  });
  for (const p of r.problems) io.warn(`edge-publish: could not refresh ${p.path}: ${p.error}\n`);
  report(io, r, refreshText(r));
  return r.problems.length > 0 ? 1 : 0;
}

function rolloutAction(flags: Flags): RolloutAction {
  const percent = percentFlag(str(flags, "percent"));
  const chosen = [
    percent !== undefined && "--percent",
    flags.pause === true && "--pause",
    flags.resume === true && "--resume",
    flags.abort === true && "--abort",
  ].filter((x): x is string => typeof x === "string");
  if (chosen.length !== 1) {
    throw new EdgeError(
      "USAGE",
      `rollout needs exactly one of --percent, --pause, --resume, --abort (found ${chosen.length === 0 ? "none" : chosen.join(", ")})`,
    );
  }
  const version = str(flags, "version");
  if (version !== undefined && percent === undefined) throw new EdgeError("USAGE", "--version goes with --percent");
  const to = str(flags, "to");
  if (to !== undefined && flags.abort !== true) throw new EdgeError("USAGE", "--to goes with --abort");
  if (percent !== undefined) return version === undefined ? { kind: "percent", percent } : { kind: "percent", percent, version };
  if (flags.pause === true) return { kind: "pause" };
  if (flags.resume === true) return { kind: "resume" };
  return to === undefined ? { kind: "abort" } : { kind: "abort", to };
}

export async function runRollout(flags: Flags, io: CliIo): Promise<number> {
  const action = rolloutAction(flags);
  const rate = str(flags, "halt-on-failures");
  const opts: RolloutOptions = {
    repoDir: await repoFlag(flags, "rollout"),
    name: required(str(flags, "name"), "name", "rollout"),
    channel: required(str(flags, "channel"), "channel", "rollout"),
    keyPath: required(str(flags, "key"), "key", "rollout"),
    action,
    expiresInDays: positiveNumberFlag(str(flags, "expires-days"), "expires-days"),
    mqtt: mqttFlags(flags, "rollout", rate !== undefined),
    force: flags.force === true,
  };
  if (rate === undefined) {
    for (const f of ["min-devices", "watch-seconds"]) {
      if (str(flags, f) !== undefined) throw new EdgeError("USAGE", `--${f} goes with --halt-on-failures`);
    }
    const c = await changeRollout(opts);
    const what = c.abortedFrom ? `aborted ${c.abortedFrom.version} (${ABORT_SOURCE[c.abortedFrom.source]}): ` : "";
    report(
      io,
      changeJson(c),
      `${what}${pointerLine(c.pointer)}\nwrote ${c.path}\n${c.mqtt ? `published to ${c.mqtt.topic} (retained, acknowledged)\n` : ""}`,
    );
    return 0;
  }
  const minDevices = integerFlag(
    required(str(flags, "min-devices"), "min-devices", "rollout"),
    "min-devices",
    1,
    1_000_000,
  ) as number;
  const watchSeconds = positiveNumberFlag(str(flags, "watch-seconds"), "watch-seconds") ?? DEFAULT_WATCH_SECONDS;
  const policy = { maxFailureRate: parseFailureRate(rate), minDevices };
  const r = await rolloutWithHalt(opts as RolloutOptions & { mqtt: MqttSettings }, {
    policy,
    watchMs: watchSeconds * 1000,
    stopRequested: io.stopRequested,
    onWarning: (text) => io.warn(`edge-publish: ${text}\n`),
    onWatching: (c) => {
      if (!io.json) io.out(`${pointerLine(c.pointer)}; watching device events for ${c.pointer.version}\n`);
    },
  });
  const t = r.decision.tally;
  const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;
  const counts = `${t.failed} of ${t.reported} reporting devices failed (${pct(r.decision.failureRate)})`;
  const json = {
    halted: r.end === "halt",
    end: r.end,
    ...t,
    failureRate: r.decision.failureRate,
    policy,
    rollout: changeJson(r.change),
    abort: r.abort ? changeJson(r.abort) : undefined,
  };
  if (r.abort) {
    report(io, json, `rollout halted: ${counts}, above ${pct(policy.maxFailureRate)}; ${pointerLine(r.abort.pointer)}\n`);
    return 1;
  }
  const why = r.end === "signal" ? "stopped" : `watched ${watchSeconds} s`;
  report(
    io,
    json,
    `${why}: ${counts}; the rollout stays at ${formatRollout(r.change.pointer.rollout ?? { percent: 100, paused: false })}\n`,
  );
  return 0;
}

export async function runKeys(flags: Flags, positionals: string[], io: CliIo): Promise<number> {
  const sub = positionals[0];
  if (positionals.length !== 1 || (sub !== "init" && sub !== "rotate")) {
    throw new EdgeError(
      "USAGE",
      `keys takes init or rotate (found ${JSON.stringify(positionals.join(" "))}; see edge-publish keys --help)`,
    );
  }
  const repoDir = required(str(flags, "repo"), "repo", "keys");
  const keyPath = required(str(flags, "key"), "key", "keys");
  const add = list(flags, "add");
  const remove = list(flags, "remove");
  if (sub === "init" && (add.length > 0 || remove.length > 0))
    throw new EdgeError("USAGE", "keys init takes no --add or --remove");
  const r = sub === "init" ? await keysInit({ repoDir, keyPath }) : await keysRotate({ repoDir, keyPath, add, remove });
  const short = (ids: string[]): string => ids.map((id) => id.slice(0, 16)).join(", ") || "none";
  report(
    io,
    r,
    `wrote ${r.path} (keys document ${r.version}, signed by ${r.signedBy.slice(0, 16)})\nkeys ${short(r.keys)}; added ${short(r.added)}; removed ${short(r.removed)}\n`,
  );
  return 0;
}
