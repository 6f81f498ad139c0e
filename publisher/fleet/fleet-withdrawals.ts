import { isEdgeError } from "../../shared/errors.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { WITHDRAWALS_MAX_BYTES, withdrawalsNameOfTopic } from "../../shared/topics.js";
import { parseWithdrawalList } from "../../shared/withdrawals.js";
import { pointerExpiry, type WithdrawalListSummary, withdrawalExpiryWarning } from "../rollout/pointer-expiry.js";

/**
 * The retained withdrawal lists on the broker, as the fleet view sees them:
 * read only for their expiry (an expired list fails every device's channel
 * check). The signature is the devices' business. No I/O.
 */

/** Keyed by model name. */
export type WithdrawalBoard = Map<string, WithdrawalListSummary>;

export type WithdrawalOutcome =
  | { kind: "withdrawals" | "cleared-withdrawals"; topic: string }
  | { kind: "skipped"; reason: string };

export interface WithdrawalListView extends WithdrawalListSummary {
  expired: boolean;
  expiresSoon: boolean;
  daysLeft: number;
}

export function emptyWithdrawalBoard(): WithdrawalBoard {
  return new Map();
}

/** Applies one retained message from `edgepull/v1/+/withdrawals`; garbage is skipped with the reason, never thrown. */
export function applyWithdrawalsMessage(board: WithdrawalBoard, topic: string, payload: Buffer): WithdrawalOutcome {
  const name = withdrawalsNameOfTopic(topic);
  if (name === undefined) return { kind: "skipped", reason: "not a withdrawal list topic" };
  if (payload.length === 0) {
    board.delete(name);
    return { kind: "cleared-withdrawals", topic };
  }
  if (payload.length > WITHDRAWALS_MAX_BYTES) {
    return { kind: "skipped", reason: `${payload.length} bytes; at most ${WITHDRAWALS_MAX_BYTES} accepted` };
  }
  try {
    const list = parseWithdrawalList(parseEnvelopeText(payload.toString("utf8"), topic).signed);
    if (list.name !== name) return { kind: "skipped", reason: `the withdrawal list of ${list.name} on the topic of ${name}` };
    board.set(name, { name, sequence: list.sequence, expiresAt: list.expiresAt, entries: list.entries.length });
    return { kind: "withdrawals", topic };
  } catch (err) {
    if (isEdgeError(err)) return { kind: "skipped", reason: `${err.code}: ${err.message}` };
    throw err;
  }
}

/** Every list with its expiry as of `now`, by name, and a warning for each expired or expiring within `warnDays`. */
export function withdrawalRows(
  board: WithdrawalBoard,
  now: Date,
  warnDays: number,
): { withdrawalLists: WithdrawalListView[]; warnings: string[] } {
  const withdrawalLists = [...board.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((l) => ({ ...l, ...pointerExpiry(l.expiresAt, now, warnDays) }));
  const warnings = withdrawalLists.map((l) => withdrawalExpiryWarning(l, l)).filter((w): w is string => w !== undefined);
  return { withdrawalLists, warnings };
}
