import { access } from "node:fs/promises";
import type { AttemptJson } from "../../shared/attempt-json.js";
import { type WithdrawalAction, withdrawalOf } from "../../shared/withdrawals.js";
import type { AgentConfig } from "../config.js";
import { readCurrentVersion } from "../install/activate.js";
import { layoutFor } from "../install/layout.js";
import { type ProbeResult, probeOnce } from "../service/health.js";
import { parseStoredWithdrawals } from "../sources/withdrawal-intake.js";
import { openDbReadOnly } from "../state/db.js";
import { readLockOwner } from "../state/lock.js";
import { type AttemptRow, type DeniedRow, type LastCheck, StateStore } from "../state/store.js";
import { attemptJsonOrNull } from "./attempt-json.js";
import { diskSpaceFor } from "./disk.js";
import { type VersionHealth, versionHealthOf } from "./version-health.js";

/**
 * What a technician (and later the fleet view) needs to know about a device,
 * read from disk and the journal only, so it works with the daemon down.
 * The one type of the status JSON: `edge-agent status --json` prints it, the
 * local endpoint's /status serves it, the MQTT status is made from it, and the
 * demo and the tests read it.
 */
export interface StatusSnapshot {
  deviceId: string;
  name: string;
  channel: string;
  activeVersion: string | null;
  previousVersion: string | null;
  /** The open attempt's phase, or "idle" when there is none. */
  phase: AttemptRow["phase"] | "idle";
  /** The open attempt, or null when there is none. */
  attempt: AttemptJson | null;
  lastCheck: LastCheck | null;
  /** The open attempt, else the last finished one. */
  lastUpdate: AttemptJson | null;
  denied: Pick<DeniedRow, "version" | "errorCode" | "reason" | "deniedAt">[];
  health: { url: string } & ProbeResult;
  disk: { path: string; mount?: string; availableBytes?: number; error?: string };
  daemon: { running: boolean; pid?: number; role?: string };
  hold: { source: "config" | "operator"; reason?: string; at?: string } | null;
  /** The active version is on the publisher's withdrawal list: `stay` keeps it on purpose, `move` leaves it. */
  withdrawn: { version: string; reason: string; action: WithdrawalAction; withdrawnAt: string } | null;
  /**
   * Per version served or tried, the most recent first: healthy and unhealthy serving seconds the
   * daemon counted, rollbacks from it, deny-listed or not (README "Healthy device-hours").
   * readStatus always sets it; optional only for snapshots made by hand.
   */
  versionHealth?: VersionHealth[];
  /** WITHDRAWN while the active version is withdrawn, else HEALTHY or DEGRADED (`healthy`). */
  state: "HEALTHY" | "DEGRADED" | "WITHDRAWN";
  healthy: boolean;
  problems: string[];
  at: string;
}

function withdrawnOf(store: StateStore | undefined, name: string, active: string | undefined): StatusSnapshot["withdrawn"] {
  const entry = withdrawalOf(parseStoredWithdrawals(store?.withdrawals(name)?.text), active);
  return entry ? { version: entry.version, reason: entry.reason, action: entry.action, withdrawnAt: entry.withdrawnAt } : null;
}

export interface ReadStatusOptions {
  probeTimeoutMs?: number;
  /** A probe the caller just made (the daemon's health watch): used instead of probing again. */
  health?: ProbeResult;
}

export async function readStatus(config: AgentConfig, opts: ReadStatusOptions = {}): Promise<StatusSnapshot> {
  const layout = layoutFor(config.dataDir);
  const problems: string[] = [];
  const active = await readCurrentVersion(layout).catch((err: Error) => {
    problems.push(err.message);
    return undefined;
  });
  if (!active) problems.push("no active version: nothing is installed yet");

  let store: StateStore | undefined;
  let close = (): void => {};
  const haveDb = await access(layout.dbPath).then(
    () => true,
    () => false,
  );
  if (haveDb) {
    const db = openDbReadOnly(layout.dbPath);
    store = new StateStore(db);
    close = () => db.close();
  } else {
    problems.push(`no journal at ${layout.dbPath}: the agent has not run yet`);
  }
  try {
    const open = store?.openAttempt();
    const denied = store?.listDenied() ?? [];
    const last = store?.lastFinishedAttempt();
    if (last?.rollbackErrorCode) {
      problems.push(`last rollback failed (${last.rollbackErrorCode}): ${last.rollbackErrorMessage ?? ""}`);
    }
    const health = opts.health ?? (await probeOnce(config.health.url, opts.probeTimeoutMs ?? 2000));
    if (!health.ok) problems.push(`service not ready at ${config.health.url}: ${health.error ?? `HTTP ${health.status}`}`);
    const disk: StatusSnapshot["disk"] = { path: config.dataDir };
    await diskSpaceFor(config.dataDir).then(
      (d) => Object.assign(disk, { mount: d.mount, availableBytes: d.availableBytes }),
      (err: Error) => Object.assign(disk, { error: err.message }),
    );
    const owner = await readLockOwner(layout.lockFile);
    let withdrawn: StatusSnapshot["withdrawn"] = null;
    try {
      withdrawn = withdrawnOf(store, config.name, active);
    } catch (err) {
      problems.push(`the journal's withdrawal list does not parse: ${(err as Error).message}`);
    }
    return {
      deviceId: config.deviceId,
      name: config.name,
      channel: config.channel,
      activeVersion: active ?? null,
      previousVersion: store?.previousVersion() ?? null,
      phase: open ? open.phase : "idle",
      attempt: attemptJsonOrNull(open),
      lastCheck: store?.lastCheck() ?? null,
      lastUpdate: attemptJsonOrNull(open ?? last),
      denied: denied.map((d) => ({
        version: d.version,
        errorCode: d.errorCode,
        reason: d.reason,
        deniedAt: d.deniedAt,
      })),
      health: { url: config.health.url, ...health },
      disk,
      daemon: owner ? { running: true, pid: owner.pid, role: owner.role } : { running: false },
      hold: config.hold ? { source: "config" } : store?.hold() ? { source: "operator", ...store.hold() } : null,
      withdrawn,
      versionHealth: store ? versionHealthOf(store.servingTime(), store.rollbacksByVersion(), denied) : [],
      state: withdrawn ? "WITHDRAWN" : problems.length === 0 ? "HEALTHY" : "DEGRADED",
      healthy: problems.length === 0,
      problems,
      at: new Date().toISOString(),
    };
  } finally {
    close();
  }
}
