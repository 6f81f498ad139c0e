import { EdgeError } from "./errors.js";
import { checkTime, isRecord, nameProblem, Problems, SPEC_VERSION, versionProblem } from "./manifest.js";

/**
 * The publisher's list of withdrawn releases of one model (TUF's revocation,
 * kept small): `withdrawals/<name>.json`, a signed envelope of WithdrawalList.
 * Like a channel pointer it carries a sequence (+1 on every change; devices
 * refuse a lower one, so an old list cannot be replayed to un-withdraw a
 * release) and an expiry (so a mirror cannot freeze a device on an old list
 * forever). A withdrawn version is never installed; a device running one moves
 * to its channel's release (`move`) or keeps it and reports WITHDRAWN (`stay`).
 * An entry applies to the version whatever release manifest digest a device
 * holds: `delta` re-signs a release manifest, and a sideloaded bundle has none.
 */
export const WITHDRAWALS_TYPE = "edgepull/withdrawals";

export const WITHDRAWAL_ACTIONS = ["move", "stay"] as const;
export type WithdrawalAction = (typeof WITHDRAWAL_ACTIONS)[number];

/** A reason is shown on one status line: short, one line. */
export const WITHDRAWAL_REASON_MAX = 500;

export interface WithdrawalEntry {
  version: string;
  /** SHA-256 of the release manifest the publisher withdrew, for the record (not used to match). */
  releaseDigest?: string;
  reason: string;
  withdrawnAt: string;
  action: WithdrawalAction;
}

export interface WithdrawalList {
  _type: typeof WITHDRAWALS_TYPE;
  specVersion: number;
  name: string;
  sequence: number;
  createdAt: string;
  expiresAt: string;
  /** One per version, in the order they were withdrawn. */
  entries: WithdrawalEntry[];
}

/** Why a reason cannot be used, or undefined. */
export function reasonProblem(reason: unknown): string | undefined {
  if (typeof reason !== "string" || reason.trim() === "") return "reason must be a non-empty string";
  if (reason.length > WITHDRAWAL_REASON_MAX) return `reason is longer than ${WITHDRAWAL_REASON_MAX} characters`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(reason)) return "reason must be one line without control characters";
  return undefined;
}

function checkEntries(p: Problems, value: unknown): void {
  if (!Array.isArray(value)) {
    p.add("entries must be a list");
    return;
  }
  const seen = new Set<string>();
  for (const [i, e] of value.entries()) {
    if (!isRecord(e)) {
      p.add(`entries[${i}] must be an object`);
      continue;
    }
    const problem = versionProblem(e.version);
    if (problem) p.add(`entries[${i}]: ${problem}`);
    else if (seen.has(e.version as string)) p.add(`entries[${i}].version ${e.version} is listed twice`);
    else seen.add(e.version as string);
    if (e.releaseDigest !== undefined && (typeof e.releaseDigest !== "string" || !/^[0-9a-f]{64}$/.test(e.releaseDigest)))
      p.add(`entries[${i}].releaseDigest must be 64 lowercase hex digits`);
    const reason = reasonProblem(e.reason);
    if (reason) p.add(`entries[${i}].${reason}`);
    checkTime(p, e, "withdrawnAt");
    if (!WITHDRAWAL_ACTIONS.includes(e.action as WithdrawalAction)) p.add(`entries[${i}].action must be "move" or "stay"`);
  }
}

export function parseWithdrawalList(value: unknown): WithdrawalList {
  const p = new Problems("withdrawal list");
  if (!isRecord(value)) throw new EdgeError("METADATA_MALFORMED", "withdrawal list must be a JSON object");
  if (value._type !== WITHDRAWALS_TYPE) p.add(`_type must be "${WITHDRAWALS_TYPE}" (found ${JSON.stringify(value._type)})`);
  if (value.specVersion !== SPEC_VERSION) p.add(`specVersion must be ${SPEC_VERSION}`);
  p.add(nameProblem(value.name));
  if (!Number.isSafeInteger(value.sequence) || (value.sequence as number) < 1) p.add("sequence must be a positive integer");
  checkTime(p, value, "createdAt");
  checkTime(p, value, "expiresAt");
  checkEntries(p, value.entries);
  p.throwIfAny();
  return value as unknown as WithdrawalList;
}

/** The entry withdrawing `version`, if the list has one. */
export function withdrawalOf(list: WithdrawalList | undefined, version: string | undefined | null): WithdrawalEntry | undefined {
  if (!list || !version) return undefined;
  return list.entries.find((e) => e.version === version);
}

/** One line for logs, status and errors. */
export function describeWithdrawal(entry: WithdrawalEntry): string {
  return `${entry.version} was withdrawn by the publisher at ${entry.withdrawnAt}: ${entry.reason}`;
}

/** What every command that would point devices at a withdrawn version throws (the agent's intake too). */
export function withdrawnError(entry: WithdrawalEntry, hint: string): EdgeError {
  return new EdgeError("VERSION_WITHDRAWN", `${describeWithdrawal(entry)}; ${hint}`);
}
