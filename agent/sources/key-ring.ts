import { EdgeError } from "../../shared/errors.js";
import { keysDocumentPath, signerIds, verifyNextKeys } from "../../shared/key-chain.js";
import { enterChain } from "../../shared/key-chain-entry.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { resolveArtifactUrl } from "../../shared/repo-layout.js";
import type { PublicKeyInfo, SignedEnvelope } from "../../shared/signature.js";
import type { Logger } from "../logging.js";
import type { StateStore } from "../state/store.js";
import { fetchMetadata } from "./metadata-fetch.js";

/** A chain longer than this in one refresh is a broken or hostile repository. */
const MAX_LINKS_PER_REFRESH = 100;

function parseOrUndefined(text: string, what: string): SignedEnvelope<unknown> | undefined {
  try {
    return parseEnvelopeText(text, what);
  } catch {
    return undefined;
  }
}

/**
 * The publisher keys this device trusts: the ones it shipped with, advanced
 * along the repository's chain of keys documents (shared/key-chain.ts).
 * Until a document signed by a shipped key is accepted, every refresh reads the
 * chain from keys/1.json and enters it (shared/key-chain-entry.ts); from then on
 * only the next number is fetched, so a lower document never replaces a higher
 * one. The accepted documents are kept in the journal and re-verified from the
 * shipped keys at every start, so a tampered journal cannot widen the set.
 */
export class KeyRing {
  private keys: PublicKeyInfo[];
  private ever: PublicKeyInfo[];
  private version = 0;
  /** A document signed by a shipped key was accepted: the chain is followed forward from `version`. */
  private anchored = false;

  constructor(
    private readonly shipped: PublicKeyInfo[],
    private readonly store: StateStore,
    private readonly logger: Logger,
  ) {
    this.keys = shipped;
    this.ever = [...shipped];
    this.resume(store.keysDocuments());
  }

  /** Keys for new metadata: the newest document's, or the shipped ones. */
  current(): PublicKeyInfo[] {
    return this.keys;
  }

  /** Every key trusted at some point: for re-checking what the journal recorded back then. */
  everTrusted(): PublicKeyInfo[] {
    return this.ever;
  }

  get chainVersion(): number {
    return this.version;
  }

  /**
   * The journal holds the documents accepted from the entry point on: the
   * lowest one signed by a shipped key is where this device entered (records
   * older than that belong to keys it no longer ships with, and are skipped).
   */
  private resume(stored: { version: number; text: string }[]): void {
    const shippedIds = new Set(this.shipped.map((k) => k.keyid));
    const start = stored.findIndex(({ version, text }) => {
      const envelope = parseOrUndefined(text, `keys document ${version}`);
      return envelope !== undefined && signerIds(envelope).some((id) => shippedIds.has(id));
    });
    if (start < 0) return;
    for (const { version, text } of stored.slice(start)) {
      if (this.anchored && version !== this.version + 1) break; // records past a gap are not part of this chain
      try {
        this.accept(text, version);
      } catch (err) {
        this.logger.error({ err, version }, "a stored keys document no longer verifies; staying on the keys before it");
        break;
      }
    }
  }

  private accept(text: string, version: number): void {
    const envelope = parseEnvelopeText(text, `keys document ${version}`);
    const { keys } = verifyNextKeys(envelope, this.keys, version, this.anchored ? undefined : "this device's trustedKeys");
    this.adopt(keys, version, true);
  }

  private adopt(keys: PublicKeyInfo[], version: number, anchored: boolean): void {
    this.keys = keys;
    for (const k of keys) if (!this.ever.some((e) => e.keyid === k.keyid)) this.ever.push(k);
    this.version = version;
    this.anchored = anchored;
  }

  /** keys/<version>.json, or undefined when the repository has no such document. */
  private async fetchDocument(repositoryUrl: string, version: number, signal?: AbortSignal): Promise<string | undefined> {
    const url = resolveArtifactUrl(repositoryUrl, keysDocumentPath(version));
    try {
      const fetched = await fetchMetadata(url, { timeoutMs: 30_000, signal });
      return fetched.status === "ok" ? fetched.text : undefined;
    } catch (err) {
      if (err instanceof EdgeError && err.code === "HTTP_ERROR" && / 404 /.test(err.message)) return undefined;
      throw err;
    }
  }

  private tooLong(): EdgeError {
    return new EdgeError(
      "METADATA_MALFORMED",
      `the repository offers more than ${MAX_LINKS_PER_REFRESH} new keys documents at once`,
    );
  }

  /** Follows the repository's chain from the last accepted document (or enters it); a missing next document ends it. */
  async refresh(repositoryUrl: string, signal?: AbortSignal): Promise<number> {
    if (!this.anchored) return this.enter(repositoryUrl, signal);
    for (let i = 0; i < MAX_LINKS_PER_REFRESH; i++) {
      const next = this.version + 1;
      const text = await this.fetchDocument(repositoryUrl, next, signal);
      if (text === undefined) return this.version;
      this.accept(text, next);
      this.store.acceptKeysDocument(next, text);
      this.logger.info({ version: next, keys: this.keys.map((k) => k.keyid.slice(0, 16)) }, "accepted a new keys document");
    }
    throw this.tooLong();
  }

  /** Reads keys/1.json onward until one is missing, and enters the chain where the shipped keys allow. */
  private async enter(repositoryUrl: string, signal?: AbortSignal): Promise<number> {
    const texts: string[] = [];
    for (;;) {
      const text = await this.fetchDocument(repositoryUrl, texts.length + 1, signal);
      if (text === undefined) break;
      if (texts.length === MAX_LINKS_PER_REFRESH) throw this.tooLong();
      texts.push(text);
    }
    const ids = (keys: PublicKeyInfo[]) => keys.map((k) => k.keyid).join();
    const before = { version: this.version, keys: ids(this.keys) };
    const entry = enterChain(
      texts.map((text, i) => parseEnvelopeText(text, `keys document ${i + 1}`)),
      this.shipped,
    );
    for (const link of entry.accepted) {
      this.store.acceptKeysDocument(link.version, texts[link.version - 1] as string);
      this.adopt(link.keys, link.version, true); // every key trusted on the way counts for re-checking records, as at a restart
    }
    const changed = entry.version !== before.version || ids(entry.keys) !== before.keys;
    this.adopt(entry.keys, entry.version, entry.accepted.length > 0);
    if (changed && entry.version > 0) {
      const from = entry.accepted[0];
      this.logger.info(
        { version: entry.version, from: from?.version, keys: this.keys.map((k) => k.keyid.slice(0, 16)) },
        from
          ? "entered the keys chain at a document signed by a shipped key and followed it to the newest"
          : "the newest keys document lists a shipped key; trusting only that key until a document it signs appears",
      );
    }
    return this.version;
  }
}
