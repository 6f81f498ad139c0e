import type { MqttSettings } from "../../shared/mqtt-options.js";
import type { PrivateKeyInfo } from "../../shared/signature.js";
import type { WithdrawalList } from "../../shared/withdrawals.js";
import type { Resigned } from "../rollout/pointer-expiry.js";
import type { WithdrawalListRow } from "./withdrawal-expiry.js";
import {
  nextWithdrawalList,
  pushWithdrawalList,
  readWithdrawals,
  signWithdrawalList,
  writeWithdrawalBytes,
} from "./withdrawal-file.js";

export interface RefreshedWithdrawals extends Resigned {
  name: string;
  /** How many versions it withdraws (unchanged). */
  entries: number;
}

/** A list read back for re-signing: what was written, and the bytes (whose signatures a key check reads). */
export interface WithdrawalsPlan {
  list: WithdrawalList;
  bytes: Buffer;
  path: string;
}

/** The due lists read again, for checks before anything is written; one removed since it was listed is skipped. */
export async function planWithdrawalRefresh(repoDir: string, due: WithdrawalListRow[]): Promise<WithdrawalsPlan[]> {
  const plans: WithdrawalsPlan[] = [];
  for (const row of due) {
    const found = await readWithdrawals(repoDir, row.name);
    if (found) plans.push(found);
  }
  return plans;
}

/**
 * Re-signs one list: the same entries, the next sequence, a new expiry; with
 * `mqtt`, the exact bytes pushed retained as `withdraw --mqtt` does. A device
 * takes it as a newer list that withdraws the same versions.
 */
export async function refreshWithdrawalList(opts: {
  repoDir: string;
  plan: WithdrawalsPlan;
  key: PrivateKeyInfo;
  expiresInDays: number;
  now: Date;
  dryRun: boolean;
  mqtt?: MqttSettings;
}): Promise<RefreshedWithdrawals> {
  const old = opts.plan.list;
  const next = nextWithdrawalList(old.name, old.sequence, old.entries, opts.now, opts.expiresInDays);
  const entry = {
    name: old.name,
    entries: old.entries.length,
    fromSequence: old.sequence,
    sequence: next.sequence,
    previousExpiresAt: old.expiresAt,
    expiresAt: next.expiresAt,
    path: opts.plan.path,
  };
  if (opts.dryRun) return entry;
  const bytes = signWithdrawalList(next, opts.key);
  const path = await writeWithdrawalBytes(opts.repoDir, old.name, bytes);
  if (!opts.mqtt) return entry;
  return { ...entry, mqtt: await pushWithdrawalList(path, old.name, bytes, opts.mqtt) };
}
