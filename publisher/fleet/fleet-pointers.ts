import { isEdgeError } from "../../shared/errors.js";
import { parseChannelPointer, parseEnvelopeText } from "../../shared/manifest.js";
import { channelOfTopic, POINTER_MAX_BYTES } from "../../shared/topics.js";
import { expiryWarning, pointerExpiry } from "../rollout/pointer-expiry.js";

/**
 * The retained channel pointers on the broker, as the fleet view sees them:
 * what pushed devices get on (re)connect. Only read for their expiry: the
 * signature is the devices' business (the fleet view holds no keys). No I/O.
 */

export interface PointerView {
  name: string;
  channel: string;
  version: string;
  sequence: number;
  expiresAt: string;
}

/** Keyed by `name/channel`. */
export type PointerBoard = Map<string, PointerView>;

export type PointerOutcome = { kind: "pointer" | "cleared-pointer"; topic: string } | { kind: "skipped"; reason: string };

export interface PointerRow extends PointerView {
  expired: boolean;
  expiresSoon: boolean;
  daysLeft: number;
}

export function emptyPointerBoard(): PointerBoard {
  return new Map();
}

/** Applies one retained message from `edgepull/v1/+/channels/+`; garbage is skipped with the reason, never thrown. */
export function applyPointerMessage(board: PointerBoard, topic: string, payload: Buffer): PointerOutcome {
  const where = channelOfTopic(topic);
  if (!where) return { kind: "skipped", reason: "not a channel topic" };
  const key = `${where.name}/${where.channel}`;
  if (payload.length === 0) {
    board.delete(key);
    return { kind: "cleared-pointer", topic };
  }
  if (payload.length > POINTER_MAX_BYTES) {
    return { kind: "skipped", reason: `${payload.length} bytes; at most ${POINTER_MAX_BYTES} accepted` };
  }
  try {
    const p = parseChannelPointer(parseEnvelopeText(payload.toString("utf8"), topic).signed);
    if (p.name !== where.name || p.channel !== where.channel) {
      return { kind: "skipped", reason: `a pointer for ${p.name} ${p.channel} on the topic of ${where.name} ${where.channel}` };
    }
    board.set(key, { name: p.name, channel: p.channel, version: p.version, sequence: p.sequence, expiresAt: p.expiresAt });
    return { kind: "pointer", topic };
  } catch (err) {
    if (isEdgeError(err)) return { kind: "skipped", reason: `${err.code}: ${err.message}` };
    throw err;
  }
}

/** Every pointer with its expiry as of `now`, sorted by name and channel, and a warning for each expired or expiring within `warnDays`. */
export function pointerRows(board: PointerBoard, now: Date, warnDays: number): { pointers: PointerRow[]; warnings: string[] } {
  const pointers = [...board.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, p]) => ({ ...p, ...pointerExpiry(p.expiresAt, now, warnDays) }));
  const warnings = pointers.map((p) => expiryWarning(p, p)).filter((w): w is string => w !== undefined);
  return { pointers, warnings };
}
