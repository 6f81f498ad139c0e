import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import {
  type ChannelPointer,
  isExpired,
  parseChannelPointer,
  parseEnvelopeText,
  parseReleaseManifest,
  type ReleaseManifest,
} from "../../shared/manifest.js";
import { type PublicKeyInfo, verifyEnvelope } from "../../shared/signature.js";

/**
 * The one gate every proposed release passes, whatever brought it (poll, push,
 * sideload): signature by a trusted key, then content, then freshness and order.
 * Pure: the caller supplies the highest sequence seen and the clock.
 */
export interface PointerContext {
  trustedKeys: PublicKeyInfo[];
  name: string;
  channel: string;
  now: Date;
  highestSequence: number;
  /** The exact text of the pointer accepted with `highestSequence`, if any. */
  lastAcceptedText?: string;
}

export interface VerifiedPointer {
  pointer: ChannelPointer;
  text: string;
  keyid: string;
  /** True when this is the pointer already accepted (same sequence, same signed content). */
  alreadyAccepted: boolean;
}

function signedDigest(text: string): string {
  return sha256Hex(canonicalJson(parseEnvelopeText(text, "pointer").signed));
}

/**
 * The time expiry is judged by: the device clock, but never earlier than the
 * creation time of the last pointer this device trusted. A board whose clock
 * was reset (no RTC battery, 1970 after a power cut) thus still refuses a
 * pointer that had expired before one it already accepted was even made. A
 * clock running ahead cannot be corrected this way: such a device refuses
 * pointers as expired, and says so, until its clock is fixed.
 */
export function trustedNow(ctx: Pick<PointerContext, "now" | "lastAcceptedText">): Date {
  if (!ctx.lastAcceptedText) return ctx.now;
  try {
    const created = Date.parse(
      String((parseEnvelopeText(ctx.lastAcceptedText, "pointer").signed as { createdAt?: string }).createdAt),
    );
    return Number.isFinite(created) && created > ctx.now.getTime() ? new Date(created) : ctx.now;
  } catch {
    return ctx.now;
  }
}

export function verifyPointerText(text: string, ctx: PointerContext): VerifiedPointer {
  const envelope = parseEnvelopeText(text, "channel pointer");
  const keyid = verifyEnvelope(envelope, ctx.trustedKeys, "channel pointer");
  const pointer = parseChannelPointer(envelope.signed);
  if (pointer.name !== ctx.name || pointer.channel !== ctx.channel) {
    throw new EdgeError(
      "NAME_MISMATCH",
      `channel pointer is for ${pointer.name}/${pointer.channel}, this device follows ${ctx.name}/${ctx.channel}`,
    );
  }
  if (isExpired(pointer.expiresAt, trustedNow(ctx))) {
    throw new EdgeError(
      "METADATA_EXPIRED",
      `channel pointer (sequence ${pointer.sequence}, version ${pointer.version}) expired at ${pointer.expiresAt}; the publisher must re-publish the channel`,
    );
  }
  if (pointer.sequence < ctx.highestSequence) {
    throw new EdgeError(
      "SEQUENCE_REPLAY",
      `channel pointer sequence ${pointer.sequence} is lower than ${ctx.highestSequence} already seen: a replayed or stale pointer`,
    );
  }
  let alreadyAccepted = false;
  if (pointer.sequence === ctx.highestSequence) {
    const same = ctx.lastAcceptedText !== undefined && signedDigest(ctx.lastAcceptedText) === signedDigest(text);
    if (!same) {
      throw new EdgeError(
        "SEQUENCE_REPLAY",
        `channel pointer sequence ${pointer.sequence} was already used by a different pointer; a new pointer needs a higher sequence`,
      );
    }
    alreadyAccepted = true;
  }
  return { pointer, text, keyid, alreadyAccepted };
}

export interface VerifiedRelease {
  release: ReleaseManifest;
  text: string;
  digest: string;
}

/** Checks a release manifest against the pointer that named it, then its own signature. */
export function verifyReleaseText(text: string, pointer: ChannelPointer, trustedKeys: PublicKeyInfo[]): VerifiedRelease {
  const bytes = Buffer.from(text, "utf8");
  const digest = sha256Hex(bytes);
  if (bytes.length !== pointer.release.size || digest !== pointer.release.sha256) {
    throw new EdgeError(
      "DIGEST_MISMATCH",
      `release manifest for ${pointer.version} does not match the pointer (expected ${pointer.release.size} bytes, sha256 ${pointer.release.sha256.slice(0, 16)}…; got ${bytes.length} bytes, ${digest.slice(0, 16)}…)`,
    );
  }
  const release = verifyReleaseEnvelope(text, trustedKeys);
  if (release.name !== pointer.name || release.version !== pointer.version) {
    throw new EdgeError(
      "NAME_MISMATCH",
      `release manifest names ${release.name} ${release.version}, the pointer names ${pointer.name} ${pointer.version}`,
    );
  }
  return { release, text, digest };
}

/** Signature and schema of a release manifest on its own (also used for the journal's stored copy). */
export function verifyReleaseEnvelope(text: string, trustedKeys: PublicKeyInfo[]): ReleaseManifest {
  const envelope = parseEnvelopeText(text, "release manifest");
  verifyEnvelope(envelope, trustedKeys, "release manifest");
  return parseReleaseManifest(envelope.signed);
}
