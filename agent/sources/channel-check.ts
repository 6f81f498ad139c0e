import { sha256Hex } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import type { ChannelPointer } from "../../shared/manifest.js";
import { channelPointerPath, releaseManifestPath, resolveArtifactUrl } from "../../shared/repo-layout.js";
import { checkDownloadUrl, checkReleaseUrls } from "../../shared/url-policy.js";
import { type AgentConfig, downloadPolicy } from "../config.js";
import type { Logger } from "../logging.js";
import type { StateStore } from "../state/store.js";
import { type VerifiedRelease, verifyPointerText, verifyReleaseEnvelope, verifyReleaseText } from "./intake.js";
import type { KeyRing } from "./key-ring.js";
import { fetchMetadata } from "./metadata-fetch.js";
import type { WithdrawalTracker } from "./withdrawal-tracker.js";

export interface ChannelState {
  pointer: ChannelPointer;
  release: VerifiedRelease;
  /** True when the pointer text changed since the last check (a new sequence was accepted). */
  changed: boolean;
}

/**
 * Fetches the keys chain, the withdrawal list and the channel pointer (with
 * If-None-Match) and the release it names, verifying each. A 304 re-verifies the stored pointer, so an expired pointer
 * is noticed even when the server has nothing new.
 */
export class ChannelChecker {
  private etag: string | undefined;
  private cachedRelease: VerifiedRelease | undefined;

  constructor(
    private readonly deps: {
      config: AgentConfig;
      store: StateStore;
      keyRing: KeyRing;
      withdrawals: WithdrawalTracker;
      logger: Logger;
      now: () => Date;
    },
  ) {}

  async check(signal?: AbortSignal): Promise<ChannelState> {
    const { config, store } = this.deps;
    await this.deps.keyRing.refresh(config.repository, signal);
    await this.deps.withdrawals.refresh(signal);
    const url = resolveArtifactUrl(config.repository, channelPointerPath(config.name, config.channel));
    const stored = store.lastPointerText(config.channel);
    const fetched = await fetchMetadata(url, { etag: stored ? this.etag : undefined, timeoutMs: 30_000, signal });
    const text = fetched.status === "ok" ? fetched.text : (stored as string);
    const state = await this.consider(text, signal);
    if (fetched.status === "ok") this.etag = fetched.etag;
    return state;
  }

  /**
   * Verifies a pointer however it arrived (polled, pushed over MQTT), records it
   * when it is new, and fetches and verifies the release it names.
   */
  async consider(text: string, signal?: AbortSignal): Promise<ChannelState> {
    const { config, store } = this.deps;
    const trustedKeys = this.deps.keyRing.current();
    const stored = store.lastPointerText(config.channel);
    const verified = verifyPointerText(text, {
      trustedKeys,
      name: config.name,
      channel: config.channel,
      now: this.deps.now(),
      highestSequence: store.highestSequence(config.channel),
      lastAcceptedText: stored,
    });
    if (!verified.alreadyAccepted) {
      store.acceptPointer(config.channel, verified.pointer.sequence, text);
      this.deps.logger.info(
        { sequence: verified.pointer.sequence, version: verified.pointer.version, keyid: verified.keyid.slice(0, 16) },
        "accepted channel pointer",
      );
    }
    return {
      pointer: verified.pointer,
      release: await this.release(verified.pointer, signal),
      changed: !verified.alreadyAccepted,
    };
  }

  /** A release named by version rather than by the channel (a pinned device); its own signature is what counts. */
  async releaseByVersion(version: string, signal?: AbortSignal): Promise<VerifiedRelease> {
    const { config } = this.deps;
    const trustedKeys = this.deps.keyRing.current();
    const url = resolveArtifactUrl(config.repository, releaseManifestPath(config.name, version));
    const fetched = await fetchMetadata(url, { timeoutMs: 30_000, signal });
    if (fetched.status !== "ok") throw new Error("unreachable: no ETag was sent");
    const release = verifyReleaseEnvelope(fetched.text, trustedKeys);
    if (release.name !== config.name || release.version !== version) {
      throw new EdgeError("NAME_MISMATCH", `${url} names ${release.name} ${release.version}, expected ${config.name} ${version}`);
    }
    checkReleaseUrls(release, downloadPolicy(config));
    return { release, text: fetched.text, digest: sha256Hex(fetched.text) };
  }

  private async release(pointer: ChannelPointer, signal?: AbortSignal): Promise<VerifiedRelease> {
    if (this.cachedRelease?.digest === pointer.release.sha256) return this.cachedRelease;
    const policy = downloadPolicy(this.deps.config);
    const url = checkDownloadUrl(pointer.release.url, policy, `${pointer.version} release manifest`);
    const fetched = await fetchMetadata(url, { timeoutMs: 30_000, signal });
    if (fetched.status !== "ok") throw new Error("unreachable: no ETag was sent");
    const verified = verifyReleaseText(fetched.text, pointer, this.deps.keyRing.current());
    // Refused here, at intake, before any attempt starts (and again before each download).
    checkReleaseUrls(verified.release, policy);
    this.cachedRelease = verified;
    return verified;
  }
}
