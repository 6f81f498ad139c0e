import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";
import { EdgeError } from "./errors.js";

/**
 * Signed metadata is a TUF-style envelope: the signed value and detached Ed25519
 * signatures over its canonical JSON. A key is named by the SHA-256 of its public
 * key's DER encoding, so a device can match signatures to the keys it trusts.
 */
export interface SignatureEntry {
  keyid: string;
  sig: string;
}

export interface SignedEnvelope<T> {
  signed: T;
  signatures: SignatureEntry[];
}

export interface PublicKeyInfo {
  keyid: string;
  key: KeyObject;
}

export interface PrivateKeyInfo {
  keyid: string;
  key: KeyObject;
}

export interface GeneratedKeyPair {
  keyid: string;
  privatePem: string;
  publicPem: string;
}

export function generateSigningKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    keyid: keyIdOf(publicKey),
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex");
}

/** Parses a PEM private key; `source` names the file in the error. */
export function parsePrivateKey(pem: string | Buffer, source: string): PrivateKeyInfo {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new EdgeError("KEY_INVALID", `${source} is not a PEM private key`, { cause });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new EdgeError("KEY_INVALID", `${source} is a ${key.asymmetricKeyType ?? "unknown"} key, expected ed25519`);
  }
  return { keyid: keyIdOf(createPublicKey(key)), key };
}

/** Parses a PEM public key; a private key is refused so nobody ships one to devices by mistake. */
export function parsePublicKey(pem: string | Buffer, source: string): PublicKeyInfo {
  const text = pem.toString();
  if (text.includes("PRIVATE KEY")) {
    throw new EdgeError("KEY_INVALID", `${source} holds a private key; devices need only the public key`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (cause) {
    throw new EdgeError("KEY_INVALID", `${source} is not a PEM public key`, { cause });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new EdgeError("KEY_INVALID", `${source} is a ${key.asymmetricKeyType ?? "unknown"} key, expected ed25519`);
  }
  return { keyid: keyIdOf(key), key };
}

export function signEnvelope<T>(signed: T, keys: PrivateKeyInfo[]): SignedEnvelope<T> {
  const message = Buffer.from(canonicalJson(signed), "utf8");
  return {
    signed,
    signatures: keys.map(({ keyid, key }) => ({ keyid, sig: sign(null, message, key).toString("base64") })),
  };
}

/**
 * The bytes a signature covers. Content that canonical JSON cannot encode (a
 * non-finite number, a non-plain value) cannot have been signed by us: that is
 * malformed metadata, not a bug here.
 */
function signedBytes(signed: unknown, what: string): Buffer {
  try {
    return Buffer.from(canonicalJson(signed), "utf8");
  } catch (cause) {
    throw new EdgeError("METADATA_MALFORMED", `${what} cannot be encoded as canonical JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/**
 * Checks that at least one signature comes from a trusted key and is valid.
 * Signatures by unknown keys are ignored (they may belong to a rotated-in key),
 * but a signature by a trusted key that does not verify fails the whole envelope:
 * it means the content was altered.
 */
export function verifyEnvelope(envelope: SignedEnvelope<unknown>, trusted: PublicKeyInfo[], what: string): string {
  if (!Array.isArray(envelope.signatures) || envelope.signatures.length === 0) {
    throw new EdgeError("SIGNATURE_MISSING", `${what} is not signed`);
  }
  const message = signedBytes(envelope.signed, what);
  let validBy: string | undefined;
  for (const entry of envelope.signatures) {
    if (typeof entry?.keyid !== "string" || typeof entry.sig !== "string") {
      throw new EdgeError("METADATA_MALFORMED", `${what} has a malformed signature entry`);
    }
    const key = trusted.find((k) => k.keyid === entry.keyid);
    if (!key) continue;
    const ok = verify(null, message, key.key, Buffer.from(entry.sig, "base64"));
    if (!ok) {
      throw new EdgeError(
        "SIGNATURE_INVALID",
        `${what}: signature by key ${entry.keyid.slice(0, 16)} does not match the content`,
      );
    }
    validBy ??= entry.keyid;
  }
  if (!validBy) {
    const ids = envelope.signatures.map((s) => String(s.keyid).slice(0, 16)).join(", ");
    throw new EdgeError("KEY_UNTRUSTED", `${what} is signed only by keys this device does not trust (${ids})`);
  }
  return validBy;
}

/** What one signature says about its content, judged against the keys a person supplied. */
export type SignatureStatus = "valid" | "invalid" | "unknown-key";

export interface SignatureCheck {
  keyid: string;
  status: SignatureStatus;
}

/**
 * Each signature on its own, for display (`edge-publish inspect`): unlike
 * verifyEnvelope, nothing is decided here; a signature by none of `keys` is
 * "unknown-key", not an error.
 */
export function checkSignatures(envelope: SignedEnvelope<unknown>, keys: PublicKeyInfo[], what: string): SignatureCheck[] {
  const message = signedBytes(envelope.signed, what);
  return (Array.isArray(envelope.signatures) ? envelope.signatures : []).map((entry) => {
    const keyid = typeof entry?.keyid === "string" ? entry.keyid : String(entry?.keyid);
    const key = keys.find((k) => k.keyid === keyid);
    if (!key) return { keyid, status: "unknown-key" };
    if (typeof entry.sig !== "string") return { keyid, status: "invalid" };
    return { keyid, status: verify(null, message, key.key, Buffer.from(entry.sig, "base64")) ? "valid" : "invalid" };
  });
}
