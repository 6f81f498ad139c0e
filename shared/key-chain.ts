import { EdgeError } from "./errors.js";
import { type PublicKeyInfo, parsePublicKey, type SignedEnvelope, verifyEnvelope } from "./signature.js";

/**
 * Key rotation without touching devices (TUF's root rotation, kept small).
 *
 * The repository holds numbered keys documents, `keys/1.json`, `keys/2.json`,
 * ...: each a signed envelope of KeysDocument listing the publisher keys that
 * may sign pointers and releases from then on. Document N+1 must be signed by a
 * key listed in document N. A device without an accepted document enters the
 * chain from the keys it shipped with (`trustedKeys`, see key-chain-entry.ts);
 * once it has accepted one it walks on from the last, one number at a time,
 * until the next is missing. The keys of the newest document are then the only
 * ones it trusts for new metadata, so a removed key is refused from then on.
 */
export const KEYS_TYPE = "edgepull/keys";

export interface KeysDocument {
  _type: typeof KEYS_TYPE;
  specVersion: number;
  /** 1, 2, 3, ...: each document names its place in the chain. */
  version: number;
  createdAt: string;
  keys: { keyid: string; publicKey: string }[];
}

export function keysDocumentPath(version: number): string {
  return `keys/${version}.json`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function parseKeysDocument(value: unknown, expectedVersion: number): KeysDocument {
  const problems: string[] = [];
  if (!isRecord(value)) throw new EdgeError("METADATA_MALFORMED", "keys document must be a JSON object");
  if (value._type !== KEYS_TYPE) problems.push(`_type must be "${KEYS_TYPE}"`);
  if (value.specVersion !== 1) problems.push("specVersion must be 1");
  if (value.version !== expectedVersion)
    problems.push(`version must be ${expectedVersion} (found ${JSON.stringify(value.version)})`);
  if (typeof value.createdAt !== "string" || Number.isNaN(Date.parse(value.createdAt)))
    problems.push("createdAt must be an ISO time");
  if (!Array.isArray(value.keys) || value.keys.length === 0) problems.push("keys must be a non-empty list");
  else {
    for (const [i, k] of value.keys.entries()) {
      if (!isRecord(k) || typeof k.keyid !== "string" || typeof k.publicKey !== "string")
        problems.push(`keys[${i}] needs keyid and publicKey`);
    }
  }
  if (problems.length > 0) throw new EdgeError("METADATA_MALFORMED", `keys document ${expectedVersion}: ${problems.join("; ")}`);
  return value as unknown as KeysDocument;
}

/**
 * The public keys a document lists, each checked against the keyid it claims.
 * A key that does not parse is the document's fault (KEY_INVALID is for the
 * device's and publisher's own key files).
 */
export function keysOf(doc: KeysDocument): PublicKeyInfo[] {
  return doc.keys.map((k) => {
    let info: PublicKeyInfo;
    try {
      info = parsePublicKey(k.publicKey, `keys document ${doc.version}, key ${k.keyid.slice(0, 16)}`);
    } catch (cause) {
      throw new EdgeError("METADATA_MALFORMED", (cause as Error).message, { cause });
    }
    if (info.keyid !== k.keyid) {
      throw new EdgeError(
        "METADATA_MALFORMED",
        `keys document ${doc.version}: key ${k.keyid.slice(0, 16)} does not match its keyid`,
      );
    }
    return info;
  });
}

/** Keyids shortened the way every message in this chain names them. */
export function shortIds(ids: readonly string[]): string {
  return ids.length === 0 ? "none" : ids.map((id) => id.slice(0, 16)).join(", ");
}

/** The keyids an envelope claims to be signed by (unchecked: for messages and for choosing where to start). */
export function signerIds(envelope: SignedEnvelope<unknown>): string[] {
  if (!Array.isArray(envelope.signatures)) return [];
  return envelope.signatures.flatMap((s) => (typeof s?.keyid === "string" ? [s.keyid] : []));
}

/**
 * Verifies the next link of the chain: signed by a key of the current set, and
 * numbered one past it. Returns the new set. `currentFrom` says where the
 * current set came from ("keys document 2", "this device's trustedKeys"), so a
 * refusal names the document, its signers and the keys that could have signed it.
 */
export function verifyNextKeys(
  envelope: SignedEnvelope<unknown>,
  current: PublicKeyInfo[],
  expectedVersion: number,
  currentFrom = expectedVersion === 1 ? "this device's trustedKeys" : `keys document ${expectedVersion - 1}`,
): { doc: KeysDocument; keys: PublicKeyInfo[] } {
  const what = `keys document ${expectedVersion}`;
  try {
    verifyEnvelope(envelope, current, what);
  } catch (err) {
    if (!(err instanceof EdgeError) || err.code !== "KEY_UNTRUSTED") throw err;
    throw new EdgeError(
      "KEY_UNTRUSTED",
      `${what} (${keysDocumentPath(expectedVersion)}) is signed by ${shortIds(signerIds(envelope))}, but only a key of ${currentFrom} may sign it (${shortIds(current.map((k) => k.keyid))}, the keys this device trusts now)`,
    );
  }
  const doc = parseKeysDocument(envelope.signed, expectedVersion);
  return { doc, keys: keysOf(doc) };
}
