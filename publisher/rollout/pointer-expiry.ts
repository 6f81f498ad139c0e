import { isExpired } from "../../shared/manifest.js";
import { DAY_MS } from "./pointer-writer.js";

/** `refresh`, `channels` and `fleet` all look this far ahead unless told otherwise. */
export const DEFAULT_WARN_DAYS = 7;

export interface PointerExpiry {
  expired: boolean;
  /** Not expired yet, but within the look-ahead: re-sign it (`edge-publish refresh`) before devices refuse it. */
  expiresSoon: boolean;
  /** Days until expiry (negative once past), one decimal. */
  daysLeft: number;
}

/** Where a pointer's expiry stands `withinDays` ahead of `now`. */
export function pointerExpiry(expiresAt: string, now: Date, withinDays: number): PointerExpiry {
  const leftMs = Date.parse(expiresAt) - now.getTime();
  const expired = isExpired(expiresAt, now);
  return {
    expired,
    expiresSoon: !expired && leftMs <= withinDays * DAY_MS,
    daysLeft: Math.round((leftMs / DAY_MS) * 10) / 10,
  };
}

/** What `refresh` reports for each document it re-signed (pointer or withdrawal list). */
export interface Resigned {
  fromSequence: number;
  sequence: number;
  previousExpiresAt: string;
  expiresAt: string;
  path: string;
  mqtt?: { topic: string };
}

export interface PointerSummary {
  name: string;
  channel: string;
  version: string;
  sequence: number;
  expiresAt: string;
}

/** One line for a pointer that is expired or expires soon; undefined for one that does neither. */
export function expiryWarning(p: PointerSummary, e: PointerExpiry): string | undefined {
  return expiryLine(`${p.name} ${p.channel} (${p.version}, sequence ${p.sequence})`, p.expiresAt, e, "devices refuse it");
}

export interface WithdrawalListSummary {
  name: string;
  sequence: number;
  expiresAt: string;
  /** How many versions it withdraws. */
  entries: number;
}

/** The same line for a withdrawal list: once it expired, every device's channel check fails. */
export function withdrawalExpiryWarning(w: WithdrawalListSummary, e: PointerExpiry): string | undefined {
  return expiryLine(
    `withdrawal list of ${w.name} (sequence ${w.sequence}, ${w.entries} withdrawn)`,
    w.expiresAt,
    e,
    "every device's channel check fails (METADATA_EXPIRED)",
  );
}

function expiryLine(what: string, expiresAt: string, e: PointerExpiry, refused: string): string | undefined {
  if (e.expired) return `warning: ${what} EXPIRED at ${expiresAt}: ${refused}; run edge-publish refresh`;
  if (e.expiresSoon)
    return `warning: ${what} expires at ${expiresAt}, in ${e.daysLeft} days: run edge-publish refresh before then`;
  return undefined;
}
