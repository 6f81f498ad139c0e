import { canonicalJson } from "../../shared/canonical-json.js";
import { EdgeError } from "../../shared/errors.js";
import { isExpired, parseEnvelopeText } from "../../shared/manifest.js";
import { type PublicKeyInfo, verifyEnvelope } from "../../shared/signature.js";
import {
  parseWithdrawalList,
  type WithdrawalEntry,
  type WithdrawalList,
  withdrawalOf,
  withdrawnError,
} from "../../shared/withdrawals.js";
import { trustedNow } from "./intake.js";

/**
 * The publisher's withdrawal list, checked as strictly as a channel pointer:
 * signature by a trusted key, schema, model name, expiry (by the same trusted
 * time), and order: a lower sequence than the one accepted is a replay (it
 * could un-withdraw a release), and the same sequence must carry the same
 * content. Pure: the caller supplies the accepted list and the clock.
 */
export interface WithdrawalContext {
  trustedKeys: PublicKeyInfo[];
  name: string;
  now: Date;
  /** The accepted list's sequence and exact text, if any. */
  accepted?: { sequence: number; text: string };
  /** The last accepted channel pointer: its creation time bounds how far back the clock may have been reset. */
  lastPointerText?: string;
}

export interface VerifiedWithdrawals {
  list: WithdrawalList;
  text: string;
  /** The same list as the one accepted: nothing to record. */
  alreadyAccepted: boolean;
}

function signedDigestOf(text: string): string {
  return canonicalJson(parseEnvelopeText(text, "withdrawal list").signed);
}

export function verifyWithdrawalText(text: string, ctx: WithdrawalContext): VerifiedWithdrawals {
  const envelope = parseEnvelopeText(text, "withdrawal list");
  verifyEnvelope(envelope, ctx.trustedKeys, "withdrawal list");
  const list = parseWithdrawalList(envelope.signed);
  if (list.name !== ctx.name) {
    throw new EdgeError("NAME_MISMATCH", `withdrawal list is for ${list.name}, this device runs ${ctx.name}`);
  }
  if (isExpired(list.expiresAt, trustedNow({ now: ctx.now, lastAcceptedText: ctx.lastPointerText }))) {
    throw new EdgeError(
      "METADATA_EXPIRED",
      `withdrawal list (sequence ${list.sequence}) expired at ${list.expiresAt}; the publisher must re-sign it (edge-publish refresh)`,
    );
  }
  const accepted = ctx.accepted;
  if (accepted && list.sequence < accepted.sequence) {
    throw new EdgeError(
      "SEQUENCE_REPLAY",
      `withdrawal list sequence ${list.sequence} is lower than ${accepted.sequence} already accepted: a replayed or stale list`,
    );
  }
  const alreadyAccepted = accepted !== undefined && list.sequence === accepted.sequence;
  if (alreadyAccepted && signedDigestOf(accepted.text) !== canonicalJson(list)) {
    throw new EdgeError(
      "SEQUENCE_REPLAY",
      `withdrawal list sequence ${list.sequence} was already used by a different list; a new list needs a higher sequence`,
    );
  }
  return { list, text, alreadyAccepted };
}

/** The accepted list from the journal (verified when it was accepted), or undefined when there is none. */
export function parseStoredWithdrawals(text: string | undefined): WithdrawalList | undefined {
  if (text === undefined) return undefined;
  return parseWithdrawalList(parseEnvelopeText(text, "stored withdrawal list").signed);
}

/** The intake's refusal of a withdrawn version, whatever proposed it (channel, pin, sideload, rollback). */
export function refuseWithdrawnVersion(list: WithdrawalList | undefined, version: string, source: string): void {
  const entry: WithdrawalEntry | undefined = withdrawalOf(list, version);
  if (entry) throw withdrawnError(entry, `${source} is refused; it is never installed`);
}
