import { EdgeError } from "../../shared/errors.js";
import { resolveArtifactUrl, withdrawalListPath } from "../../shared/repo-layout.js";
import { WITHDRAWALS_MAX_BYTES } from "../../shared/topics.js";
import type { WithdrawalList } from "../../shared/withdrawals.js";
import type { AgentConfig } from "../config.js";
import type { Logger } from "../logging.js";
import type { StateStore } from "../state/store.js";
import type { KeyRing } from "./key-ring.js";
import { fetchMetadata } from "./metadata-fetch.js";
import { parseStoredWithdrawals, verifyWithdrawalText } from "./withdrawal-intake.js";

/**
 * The device's copy of the publisher's withdrawal list: fetched with every
 * channel check (If-None-Match, like the pointer), or pushed over MQTT, and
 * kept in the journal once accepted. A 404 means the publisher never withdrew
 * anything; once a list was accepted, a 404 is refused, since deleting the file
 * must not un-withdraw a release.
 */
export class WithdrawalTracker {
  private etag: string | undefined;
  private list: WithdrawalList | undefined;

  constructor(
    private readonly deps: {
      config: AgentConfig;
      store: StateStore;
      keyRing: KeyRing;
      logger: Logger;
      now: () => Date;
      /** A new list was accepted (what status reports may have changed). */
      onAccepted?: () => void;
    },
  ) {
    try {
      this.list = parseStoredWithdrawals(deps.store.withdrawals(deps.config.name)?.text);
    } catch (err) {
      // Verified when accepted; only a damaged journal gets here. The next fetch replaces it.
      deps.logger.error({ err }, "the stored withdrawal list does not parse");
    }
  }

  /** The accepted list, or undefined when the publisher has none. */
  current(): WithdrawalList | undefined {
    return this.list;
  }

  /** Fetches the repository's list; true when a new one was accepted. */
  async refresh(signal?: AbortSignal): Promise<boolean> {
    const { config, store } = this.deps;
    const url = resolveArtifactUrl(config.repository, withdrawalListPath(config.name));
    const stored = store.withdrawals(config.name);
    const fetched = await fetchMetadata(url, {
      etag: stored ? this.etag : undefined,
      timeoutMs: 30_000,
      signal,
      maxBytes: WITHDRAWALS_MAX_BYTES,
      notFoundIsAnswer: true,
    });
    if (fetched.status === "not-found") {
      if (!stored) return false;
      throw new EdgeError(
        "HTTP_ERROR",
        `GET ${url} answered 404, but this device accepted withdrawal list sequence ${stored.sequence}; the repository must keep serving it`,
      );
    }
    // A 304 re-verifies the stored list, so its expiry is noticed even when nothing is new.
    const changed = this.consider(fetched.status === "ok" ? fetched.text : (stored?.text as string));
    if (fetched.status === "ok") this.etag = fetched.etag;
    return changed;
  }

  /** Verifies a list however it arrived and records it when new; true when it was new. */
  consider(text: string): boolean {
    const { config, store, logger } = this.deps;
    const accepted = store.withdrawals(config.name);
    const verified = verifyWithdrawalText(text, {
      trustedKeys: this.deps.keyRing.current(),
      name: config.name,
      now: this.deps.now(),
      accepted,
      lastPointerText: store.lastPointerText(config.channel),
    });
    this.list = verified.list;
    if (verified.alreadyAccepted) return false;
    store.acceptWithdrawals(config.name, verified.list.sequence, text);
    logger.info(
      { sequence: verified.list.sequence, withdrawn: verified.list.entries.map((e) => `${e.version} (${e.action})`) },
      "accepted withdrawal list",
    );
    this.deps.onAccepted?.();
    return true;
  }
}
