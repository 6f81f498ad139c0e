import { EdgeError } from "../../shared/errors.js";
import { keysDocumentPath, verifyNextKeys } from "../../shared/key-chain.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { resolveArtifactUrl } from "../../shared/repo-layout.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import type { Logger } from "../logging.js";
import type { StateStore } from "../state/store.js";
import { fetchMetadata } from "./metadata-fetch.js";

/** A chain longer than this in one refresh is a broken or hostile repository. */
const MAX_LINKS_PER_REFRESH = 100;

/**
 * The publisher keys this device trusts: the ones it shipped with, advanced
 * along the repository's chain of keys documents (shared/key-chain.ts). The
 * accepted documents are kept in the journal and re-verified from the shipped
 * keys at every start, so a tampered journal cannot widen the set.
 */
export class KeyRing {
  private keys: PublicKeyInfo[];
  private ever: PublicKeyInfo[];
  private version = 0;

  constructor(
    root: PublicKeyInfo[],
    private readonly store: StateStore,
    private readonly logger: Logger,
  ) {
    this.keys = root;
    this.ever = [...root];
    for (const { version, text } of store.keysDocuments()) {
      try {
        this.advance(text, version);
      } catch (err) {
        logger.error({ err, version }, "a stored keys document no longer verifies; staying on the keys before it");
        break;
      }
    }
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

  private advance(text: string, version: number): void {
    const { keys } = verifyNextKeys(parseEnvelopeText(text, `keys document ${version}`), this.keys, version);
    this.keys = keys;
    for (const k of keys) if (!this.ever.some((e) => e.keyid === k.keyid)) this.ever.push(k);
    this.version = version;
  }

  /** Follows the repository's chain from the last accepted document; a missing next document ends it. */
  async refresh(repositoryUrl: string, signal?: AbortSignal): Promise<number> {
    for (let i = 0; i < MAX_LINKS_PER_REFRESH; i++) {
      const next = this.version + 1;
      const url = resolveArtifactUrl(repositoryUrl, keysDocumentPath(next));
      let text: string;
      try {
        const fetched = await fetchMetadata(url, { timeoutMs: 30_000, signal });
        if (fetched.status !== "ok") return this.version;
        text = fetched.text;
      } catch (err) {
        if (err instanceof EdgeError && err.code === "HTTP_ERROR" && / 404 /.test(err.message)) return this.version;
        throw err;
      }
      this.advance(text, next);
      this.store.acceptKeysDocument(next, text);
      this.logger.info({ version: next, keys: this.keys.map((k) => k.keyid.slice(0, 16)) }, "accepted a new keys document");
    }
    throw new EdgeError(
      "METADATA_MALFORMED",
      `the repository offers more than ${MAX_LINKS_PER_REFRESH} new keys documents at once`,
    );
  }
}
