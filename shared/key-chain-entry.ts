import { EdgeError } from "./errors.js";
import {
  type KeysDocument,
  keysDocumentPath,
  keysOf,
  parseKeysDocument,
  shortIds,
  signerIds,
  verifyNextKeys,
} from "./key-chain.js";
import type { PublicKeyInfo, SignedEnvelope } from "./signature.js";

/** A keys document the device accepted on its signature, with the keys it lists. */
export interface AcceptedKeys {
  version: number;
  doc: KeysDocument;
  keys: PublicKeyInfo[];
}

/** Where a device without an accepted chain stands after reading the repository's documents. */
export interface ChainEntry {
  /** Documents verified by signature, from the entry point to the newest: the journal keeps these. */
  accepted: AcceptedKeys[];
  /** The keys trusted for new metadata from now on. */
  keys: PublicKeyInfo[];
  /** The document those keys stand for; 0 when the repository has none. */
  version: number;
}

/** Messages describe at most this many documents (the newest ones); the rest are counted. */
const DESCRIBED_DOCUMENTS = 5;

const SHIPPED = "this device's trustedKeys";

/**
 * Where a device that has accepted no keys document yet enters the chain
 * (TUF's root chain: start from what you trust, follow forward).
 * `documents[i]` is keys/(i+1).json; the list ends where the repository's does.
 *
 * - The entry point is the LOWEST document signed by a shipped key; from there
 *   every later document must be signed by a key of the one before, up to the
 *   newest. Lowest, not newest: a shipped key that a later rotation removed may
 *   have leaked, and a document it signs on top of the chain must fail the walk
 *   (the key is no longer in the document before it), not become the start.
 *   A legitimate chain verifies forward from any of its documents, so starting
 *   low never refuses one.
 * - No document is signed by a shipped key (the device shipped with the newest
 *   document's key, which has signed nothing yet): the device trusts those of
 *   its shipped keys that the newest document lists, and nothing else. That
 *   document's signature cannot be checked, so it can only narrow what the
 *   device shipped with, never add a key; it is not kept, and the chain is read
 *   again at the next check until a document signed by one of these keys appears.
 * - Neither: KEY_UNTRUSTED naming every document's signers and keys next to the
 *   device's, and which of "a rotation removed this key" and "this key is in no
 *   document (wrong, or not rotated in yet)" it is.
 */
export function enterChain(documents: SignedEnvelope<unknown>[], shipped: PublicKeyInfo[]): ChainEntry {
  const newest = documents.at(-1);
  if (newest === undefined) return { accepted: [], keys: shipped, version: 0 };
  const shippedIds = new Set(shipped.map((k) => k.keyid));
  const start = documents.findIndex((envelope) => signerIds(envelope).some((id) => shippedIds.has(id)));
  if (start >= 0) {
    const accepted: AcceptedKeys[] = [];
    let keys = shipped;
    for (let i = start; i < documents.length; i++) {
      const version = i + 1;
      const link = verifyNextKeys(documents[i] as SignedEnvelope<unknown>, keys, version, i === start ? SHIPPED : undefined);
      accepted.push({ version, ...link });
      keys = link.keys;
    }
    return { accepted, keys, version: documents.length };
  }
  const newestDoc = parseKeysDocument(newest.signed, documents.length);
  keysOf(newestDoc); // a document whose keys do not parse is malformed, whoever reads it
  const listed = shipped.filter((k) => newestDoc.keys.some((l) => l.keyid === k.keyid));
  if (listed.length > 0) return { accepted: [], keys: listed, version: documents.length };
  throw new EdgeError("KEY_UNTRUSTED", unreachableChainMessage(documents, [...shippedIds]));
}

/** The keyids a document lists, read leniently: this is for a message, not for trust. */
function listedIds(envelope: SignedEnvelope<unknown>): string[] | undefined {
  const signed = envelope.signed as { keys?: unknown } | null;
  if (typeof signed !== "object" || signed === null || !Array.isArray(signed.keys)) return undefined;
  return signed.keys.flatMap((k: unknown) => {
    const id = (k as { keyid?: unknown } | null)?.keyid;
    return typeof id === "string" ? [id] : [];
  });
}

function unreachableChainMessage(documents: SignedEnvelope<unknown>[], shipped: string[]): string {
  const n = documents.length;
  const first = Math.max(0, n - DESCRIBED_DOCUMENTS);
  const described = documents.slice(first).map((envelope, j) => {
    const listed = listedIds(envelope);
    return `${keysDocumentPath(first + j + 1)} is signed by ${shortIds(signerIds(envelope))} and lists ${listed ? shortIds(listed) : "no readable keys"}`;
  });
  if (first > 0) described.unshift(`${keysDocumentPath(1)} to ${keysDocumentPath(first)} not shown`);
  const newestListed = listedIds(documents[n - 1] as SignedEnvelope<unknown>) ?? [];
  let lastListing = -1;
  documents.forEach((envelope, i) => {
    if ((listedIds(envelope) ?? []).some((id) => shipped.includes(id))) lastListing = i;
  });
  const verdict =
    lastListing >= 0
      ? `keys document ${lastListing + 1} lists this device's key, but keys document ${lastListing + 2} dropped it, signed by a key this device does not have: a rotation removed the shipped key, so the device needs one the newest document lists (${shortIds(newestListed)})`
      : `no document lists this device's keys: either trustedKeys names the wrong key, or a new key the repository does not list yet (it needs keys document ${n + 1}, listing that key and signed by a key of keys document ${n}: ${shortIds(newestListed)})`;
  return `no keys document is signed by or lists ${SHIPPED} (${shortIds(shipped)}): ${described.join("; ")}. ${verdict}`;
}
