import { createPublicKey } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { canonicalJson } from "../../shared/canonical-json.js";
import { EdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import { KEYS_TYPE, type KeysDocument, keysDocumentPath, keysOf, parseKeysDocument } from "../../shared/key-chain.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { signEnvelope } from "../../shared/signature.js";
import { loadPrivateKey, loadPublicKey } from "../key-file.js";

export interface KeysWriteResult {
  version: number;
  path: string;
  signedBy: string;
  keys: string[];
  added: string[];
  removed: string[];
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EdgeError("INTERNAL", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The newest keys document: the highest n with keys/1.json ... keys/n.json all present. */
export async function readLatestKeys(repoDir: string): Promise<{ doc: KeysDocument; path: string } | undefined> {
  let latest: { doc: KeysDocument; path: string } | undefined;
  for (let n = 1; ; n++) {
    const path = join(repoDir, keysDocumentPath(n));
    const text = await readIfPresent(path);
    if (text === undefined) return latest;
    const doc = parseKeysDocument(parseEnvelopeText(text, path).signed, n);
    keysOf(doc); // every listed key must parse and match its keyid
    latest = { doc, path };
  }
}

async function writeKeysDocument(repoDir: string, doc: KeysDocument, keyPath: string): Promise<string> {
  const key = await loadPrivateKey(keyPath);
  const path = join(repoDir, keysDocumentPath(doc.version));
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, `${canonicalJson(signEnvelope(doc, [key]))}`);
  return path;
}

/** keys/1.json listing the signing key itself: where devices shipped with that key enter the chain. */
export async function keysInit(opts: { repoDir: string; keyPath: string; now?: Date }): Promise<KeysWriteResult> {
  const existing = await readIfPresent(join(opts.repoDir, keysDocumentPath(1)));
  if (existing !== undefined) {
    throw new EdgeError(
      "VERSION_EXISTS",
      `${join(opts.repoDir, keysDocumentPath(1))} already exists; use edge-publish keys rotate to change the keys`,
    );
  }
  const key = await loadPrivateKey(opts.keyPath);
  const publicKey = createPublicKey(key.key).export({ type: "spki", format: "pem" }).toString();
  const doc: KeysDocument = {
    _type: KEYS_TYPE,
    specVersion: 1,
    version: 1,
    createdAt: (opts.now ?? new Date()).toISOString(),
    keys: [{ keyid: key.keyid, publicKey }],
  };
  const path = await writeKeysDocument(opts.repoDir, doc, opts.keyPath);
  return { version: 1, path, signedBy: key.keyid, keys: [key.keyid], added: [key.keyid], removed: [] };
}

export interface RotateOptions {
  repoDir: string;
  /** Private key that signs the new document; must be listed in the current one. */
  keyPath: string;
  /** Public key files (PEM) to list from now on. */
  add?: string[];
  /** Keyids (or unique prefixes of at least 8 hex digits) to drop. */
  remove?: string[];
  now?: Date;
}

function resolveKeyid(listed: string[], wanted: string, n: number): string {
  const matches = wanted.length >= 8 ? listed.filter((id) => id.startsWith(wanted.toLowerCase())) : [];
  if (matches.length === 1) return matches[0] as string;
  if (matches.length > 1)
    throw new EdgeError("USAGE", `--remove ${wanted} matches ${matches.length} keys in keys document ${n}; give more digits`);
  throw new EdgeError(
    "USAGE",
    `--remove ${wanted}: no such key in keys document ${n} (lists ${listed.map((k) => k.slice(0, 16)).join(", ")})`,
  );
}

/** keys/(n+1).json: the keys of document n, plus --add, minus --remove, signed by a key of document n. */
export async function keysRotate(opts: RotateOptions): Promise<KeysWriteResult> {
  const add = opts.add ?? [];
  const remove = opts.remove ?? [];
  if (add.length === 0 && remove.length === 0)
    throw new EdgeError("USAGE", "keys rotate needs --add PUBLIC_KEY or --remove KEYID");
  const latest = await readLatestKeys(opts.repoDir);
  if (!latest) {
    throw new EdgeError(
      "RELEASE_NOT_FOUND",
      `${join(opts.repoDir, keysDocumentPath(1))} does not exist; run edge-publish keys init first`,
    );
  }
  const n = latest.doc.version;
  const signer = await loadPrivateKey(opts.keyPath);
  if (!latest.doc.keys.some((k) => k.keyid === signer.keyid)) {
    throw new EdgeError(
      "KEY_UNTRUSTED",
      `the signing key is not in keys document ${n} (${opts.keyPath} is key ${signer.keyid.slice(0, 16)}; ${latest.path} lists ${latest.doc.keys.map((k) => k.keyid.slice(0, 16)).join(", ")})`,
    );
  }
  const keys = new Map(latest.doc.keys.map((k) => [k.keyid, k.publicKey]));
  const added: string[] = [];
  for (const file of add) {
    const info = await loadPublicKey(file);
    if (keys.has(info.keyid)) continue;
    keys.set(info.keyid, info.key.export({ type: "spki", format: "pem" }).toString());
    added.push(info.keyid);
  }
  const removed = remove.map((id) =>
    resolveKeyid(
      latest.doc.keys.map((k) => k.keyid),
      id,
      n,
    ),
  );
  for (const id of removed) keys.delete(id);
  if (keys.size === 0) {
    throw new EdgeError("USAGE", `keys document ${n + 1} would list no key; devices could then trust nothing new`);
  }
  const doc: KeysDocument = {
    _type: KEYS_TYPE,
    specVersion: 1,
    version: n + 1,
    createdAt: (opts.now ?? new Date()).toISOString(),
    keys: [...keys].map(([keyid, publicKey]) => ({ keyid, publicKey })),
  };
  const path = await writeKeysDocument(opts.repoDir, doc, opts.keyPath);
  return { version: n + 1, path, signedBy: signer.keyid, keys: [...keys.keys()], added, removed };
}
