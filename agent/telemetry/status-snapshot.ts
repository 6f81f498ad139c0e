import { access } from "node:fs/promises";
import type { ErrorCode } from "../../shared/errors.js";
import { type WithdrawalAction, withdrawalOf } from "../../shared/withdrawals.js";
import type { AgentConfig } from "../config.js";
import { readCurrentVersion } from "../install/activate.js";
import { layoutFor } from "../install/layout.js";
import { type ProbeResult, probeOnce } from "../service/health.js";
import { parseStoredWithdrawals } from "../sources/withdrawal-intake.js";
import { openDbReadOnly } from "../state/db.js";
import { readLockOwner } from "../state/lock.js";
import { type AttemptKind, type AttemptRow, type DeniedRow, type LastCheck, StateStore } from "../state/store.js";
import { diskSpaceFor } from "./disk.js";

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
  attempt: {
    id: number;
    kind: AttemptKind;
    fromVersion: string | null;
    toVersion: string;
    phase: AttemptRow["phase"];
    startedAt: string;
  } | null;
  lastCheck: LastCheck | null;
  lastUpdate: {
    version: string;
    fromVersion: string | null;
    kind: AttemptKind;
    result: AttemptRow["result"];
    errorCode: ErrorCode | null;
    error: string | null;
    rollbackErrorCode: ErrorCode | null;
    rollbackError: string | null;
    startedAt: string;
    finishedAt: string | null;
    bytesDownloaded: number;
    /** null before the download began and for rollbacks. */
    delivery: AttemptRow["delivery"];
    deltaFrom: string | null;
    /** Why an offered delta was not used: the bundle came instead. */
    deltaFallback: { code: ErrorCode; message: string } | null;
    bytesSaved: number;
  } | null;
  denied: Pick<DeniedRow, "version" | "errorCode" | "reason" | "deniedAt">[];
  health: { url: string } & ProbeResult;
  disk: { path: string; mount?: string; availableBytes?: number; error?: string };
  daemon: { running: boolean; pid?: number; role?: string };
  hold: { source: "config" | "operator"; reason?: string; at?: string } | null;
  /** The active version is on the publisher's withdrawal list: `stay` keeps it on purpose, `move` leaves it. */
  withdrawn: { version: string; reason: string; action: WithdrawalAction; withdrawnAt: string } | null;
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

function lastUpdateOf(row: AttemptRow | undefined): StatusSnapshot["lastUpdate"] {
  if (!row) return null;
  return {
    version: row.toVersion,
    fromVersion: row.fromVersion,
    kind: row.kind,
    result: row.result,
    errorCode: row.errorCode,
    error: row.errorMessage,
    rollbackErrorCode: row.rollbackErrorCode,
    rollbackError: row.rollbackErrorMessage,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    bytesDownloaded: row.bytesDownloaded,
    delivery: row.delivery,
    deltaFrom: row.deltaFrom,
    deltaFallback: row.deltaFallbackCode ? { code: row.deltaFallbackCode, message: row.deltaFallbackMessage ?? "" } : null,
    bytesSaved: row.bytesSaved,
  };
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
      attempt: open
        ? {
            id: open.id,
            kind: open.kind,
            fromVersion: open.fromVersion,
            toVersion: open.toVersion,
            phase: open.phase,
            startedAt: open.startedAt,
          }
        : null,
      lastCheck: store?.lastCheck() ?? null,
      lastUpdate: lastUpdateOf(open ?? last),
      denied: (store?.listDenied() ?? []).map((d) => ({
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
      state: withdrawn ? "WITHDRAWN" : problems.length === 0 ? "HEALTHY" : "DEGRADED",
      healthy: problems.length === 0,
      problems,
      at: new Date().toISOString(),
    };
  } finally {
    close();
  }
}
