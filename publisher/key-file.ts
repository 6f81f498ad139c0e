import { readFile } from "node:fs/promises";
import { EdgeError } from "../shared/errors.js";
import { type PrivateKeyInfo, type PublicKeyInfo, parsePrivateKey, parsePublicKey } from "../shared/signature.js";

/** Reads the publisher's signing key; every way it can be wrong is KEY_INVALID, naming the file. */
export async function loadPrivateKey(path: string): Promise<PrivateKeyInfo> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? "unknown error";
    throw new EdgeError("KEY_INVALID", `cannot read private key ${path} (${code})`, { cause });
  }
  if (!pem.includes("-----BEGIN")) {
    throw new EdgeError("KEY_INVALID", `${path} is not a PEM file (no "-----BEGIN" line)`);
  }
  return parsePrivateKey(pem, path);
}

/** Reads a public key file (a publisher.pub); unreadable or not an Ed25519 public key is KEY_INVALID, naming the file. */
export async function loadPublicKey(path: string): Promise<PublicKeyInfo> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (cause) {
    throw new EdgeError("KEY_INVALID", `cannot read public key ${path} (${(cause as NodeJS.ErrnoException).code ?? "error"})`, {
      cause,
    });
  }
  return parsePublicKey(pem, path);
}
