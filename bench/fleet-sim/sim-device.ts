import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { downloadArtifact } from "../../agent/bundle/download.js";
import type { AgentConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { connectMqtt } from "../../agent/mqtt-link.js";
import { verifyPointerText, verifyReleaseText } from "../../agent/sources/intake.js";
import { fetchMetadata } from "../../agent/sources/metadata-fetch.js";
import { MqttPushListener, type PushTarget } from "../../agent/sources/mqtt-listener.js";
import type { Phase } from "../../agent/state/phases.js";
import type { AttemptRow } from "../../agent/state/store.js";
import { eventForAttempt } from "../../agent/telemetry/attempt-events.js";
import { StatusReporter } from "../../agent/telemetry/status-reporter.js";
import { chooseDelivery } from "../../agent/update/delivery.js";
import type { ErrorCode } from "../../shared/errors.js";
import type { ChannelPointer, ReleaseManifest } from "../../shared/manifest.js";
import { resolveArtifactUrl } from "../../shared/repo-layout.js";
import { inRollout } from "../../shared/rollout.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import type { SimCounters } from "./sim-counters.js";

export interface SimDeviceOptions {
  /** Parsed by the agent's own config schema, so every default is the agent's. */
  config: AgentConfig;
  trustedKeys: PublicKeyInfo[];
  /** Where this device's downloads land (removed after each update: only the bytes and digests matter here). */
  scratchDir: string;
  activeVersion: string;
  /** Whether this device fails `version`'s health probation and rolls back (the bench's chosen share). */
  failsOn: (deviceId: string, version: string) => boolean;
  counters: SimCounters;
}

const SIM_AGENT_VERSION = "sim";

/**
 * One simulated device: the agent's MQTT contract driven by the agent's own
 * modules (connection and last-will, push listener and jitter, pointer and
 * release intake, delivery choice, resumable download with digest check,
 * status pacing, fleet events), with the journal, staging, service and
 * health replaced by a few fields in memory. What it reports is what an agent
 * would report; what it skips is the disk work that a benchmark of the broker
 * and the repository does not measure.
 */
export class SimDevice implements PushTarget {
  private readonly client: MqttClient;
  private readonly reporter: StatusReporter;
  private readonly listener: MqttPushListener;
  private active: string;
  private previous: string | null = null;
  private phase: Phase | "idle" = "idle";
  private lastResult: { version: string; result: string | null; errorCode: string | null; at: string | null } | null = null;
  private highestSequence = 0;
  private lastAcceptedText: string | undefined;
  private readonly denied = new Set<string>();
  private attemptId = 0;
  private busy: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SimDeviceOptions) {
    const { config } = opts;
    const mqtt = config.mqtt;
    if (!mqtt) throw new Error("a simulated device needs mqtt in its config");
    this.active = opts.activeVersion;
    const logger = silentLogger();
    this.client = connectMqtt(mqtt, config.deviceId, logger);
    this.reporter = new StatusReporter({
      client: this.client,
      deviceId: config.deviceId,
      dataDir: opts.scratchDir,
      minIntervalMs: mqtt.statusMinIntervalSeconds * 1000,
      heartbeatMs: mqtt.statusHeartbeatSeconds * 1000,
      logger,
      source: async () => ({
        name: config.name,
        channel: config.channel,
        agentVersion: SIM_AGENT_VERSION,
        activeVersion: this.active,
        previousVersion: this.previous,
        phase: this.phase,
        lastResult: this.lastResult,
        health: { ok: true, status: 200 },
        withdrawn: null,
      }),
    });
    this.listener = new MqttPushListener(this.client, config.name, config.channel, this, mqtt.pushJitterSeconds * 1000, logger);
  }

  get deviceId(): string {
    return this.opts.config.deviceId;
  }

  start(): void {
    this.reporter.start();
    this.listener.start();
  }

  /** Like the agent's SIGTERM: a retained offline status, then the connection closed. */
  async stop(): Promise<void> {
    this.listener.stop();
    await this.busy;
    await this.reporter.stop({ offline: true });
    await this.client.endAsync();
  }

  screenPointer(text: string): ChannelPointer {
    return verifyPointerText(text, this.pointerContext()).pointer;
  }

  async refreshKeys(): Promise<void> {}

  actOn(text: string): Promise<void> {
    const run = this.busy.then(() => this.update(text));
    this.busy = run.catch(() => {});
    return run;
  }

  private pointerContext() {
    const { config, trustedKeys } = this.opts;
    return {
      trustedKeys,
      name: config.name,
      channel: config.channel,
      now: new Date(),
      highestSequence: this.highestSequence,
      ...(this.lastAcceptedText !== undefined ? { lastAcceptedText: this.lastAcceptedText } : {}),
    };
  }

  private async update(text: string): Promise<void> {
    const verified = verifyPointerText(text, this.pointerContext());
    const { pointer } = verified;
    this.highestSequence = pointer.sequence;
    this.lastAcceptedText = text;
    const { config, counters } = this.opts;
    if (pointer.version === this.active || this.denied.has(pointer.version)) return;
    const rollout = pointer.rollout ?? { percent: 100, paused: false };
    if (rollout.paused || !inRollout(config.deviceId, config.name, pointer.version, rollout.percent)) return;

    const releaseUrl = resolveArtifactUrl(config.repository, pointer.release.url);
    counters.metadataRequests++;
    const fetched = await fetchMetadata(releaseUrl, { timeoutMs: config.download.idleTimeoutSeconds * 1000 });
    if (fetched.status !== "ok") throw new Error(`release manifest ${releaseUrl}: ${fetched.status}`);
    const { release } = verifyReleaseText(fetched.text, pointer, this.opts.trustedKeys);
    await this.install(release);
  }

  private async install(release: ReleaseManifest): Promise<void> {
    const { config, counters } = this.opts;
    const row = this.newAttempt(release.version);
    this.enter(row, "downloading");
    const delivery = chooseDelivery({
      release: { manifest: release, origin: "repository" },
      activeVersion: this.active,
      deltasEnabled: config.delta.enabled,
      targetStaged: false,
      baseStaged: true,
      fallback: undefined,
    });
    const artifact = delivery.kind === "delta" ? delivery.offer : release.bundle;
    const partPath = join(this.opts.scratchDir, `${release.version}-${delivery.kind}.part`);
    counters.downloadStarted();
    try {
      const got = await downloadArtifact({
        url: resolveArtifactUrl(config.repository, artifact.url),
        partPath,
        expectedSize: artifact.size,
        expectedSha256: artifact.sha256,
        logger: silentLogger(),
        retry: { attempts: config.download.retries, baseMs: 500, capMs: 30_000 },
        idleTimeoutMs: config.download.idleTimeoutSeconds * 1000,
      });
      row.bytesDownloaded = got.bytesTransferred;
      row.delivery = delivery.kind === "delta" ? "delta" : "bundle";
      counters.bytes += got.bytesTransferred;
      if (delivery.kind === "delta") counters.deltaDownloads++;
      else counters.bundleDownloads++;
      await rm(got.path, { force: true });
    } catch (err) {
      this.finish(row, "failed", "DOWNLOAD_FAILED", (err as Error).message);
      return;
    } finally {
      counters.downloadEnded();
      await rm(partPath, { force: true });
    }
    this.enter(row, "staging");
    this.enter(row, "activating");
    const from = this.active;
    this.previous = from;
    this.active = release.version;
    this.enter(row, "starting");
    this.enter(row, "probation");
    if (this.opts.failsOn(config.deviceId, release.version)) {
      this.enter(row, "rolling_back");
      this.active = from;
      this.denied.add(release.version);
      counters.rolledBack++;
      this.finish(row, "rolled_back", "HEALTH_TIMEOUT", "simulated: the new version never became ready");
      return;
    }
    counters.succeeded++;
    this.finish(row, "succeeded", null, null);
  }

  private newAttempt(version: string): AttemptRow {
    const now = new Date().toISOString();
    return {
      id: ++this.attemptId,
      kind: "update",
      source: "mqtt",
      fromVersion: this.active,
      toVersion: version,
      releaseJson: null,
      releaseDigest: null,
      phase: "downloading",
      result: null,
      errorCode: null,
      errorMessage: null,
      rollbackErrorCode: null,
      rollbackErrorMessage: null,
      bytesDownloaded: 0,
      delivery: null,
      deltaFrom: null,
      deltaFallbackCode: null,
      deltaFallbackMessage: null,
      bytesSaved: 0,
      handover: null,
      handoverReason: null,
      handoverDetail: null,
      startedAt: now,
      updatedAt: now,
      finishedAt: null,
    };
  }

  /** What the agent does on each journaled phase: maybe an event, and a status refresh (paced by the reporter). */
  private enter(row: AttemptRow, phase: Phase): void {
    row.phase = phase;
    row.updatedAt = new Date().toISOString();
    this.phase = phase;
    this.announce(row);
  }

  private finish(
    row: AttemptRow,
    result: "succeeded" | "rolled_back" | "failed",
    code: ErrorCode | null,
    message: string | null,
  ): void {
    row.phase = result;
    row.result = result;
    row.errorCode = code;
    row.errorMessage = message;
    row.finishedAt = new Date().toISOString();
    this.phase = "idle";
    this.lastResult = { version: row.toVersion, result, errorCode: code, at: row.finishedAt };
    this.announce(row);
  }

  private announce(row: AttemptRow): void {
    const event = eventForAttempt(row, new Date());
    if (event) this.reporter.publishEvent({ name: this.opts.config.name, ...event });
    this.reporter.notifyChange();
  }
}
