import type { MqttClient } from "mqtt";
import { toEdgeError } from "../../shared/errors.js";
import type { ChannelPointer } from "../../shared/manifest.js";
import { channelTopic, POINTER_MAX_BYTES } from "../../shared/topics.js";
import type { Logger } from "../logging.js";

export interface PushTarget {
  /** Intake checks only; throws EdgeError for anything not to act on. */
  screenPointer(text: string): ChannelPointer;
  /** Acts on a screened pointer: verify again, fetch its release, plan, install. */
  actOn(text: string): Promise<void>;
  /** Follows the repository's keys chain: a pointer by a freshly rotated-in key is not refused for lack of it. */
  refreshKeys(): Promise<void>;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Listens for the channel's retained pointer. Every message passes the same
 * intake as a polled pointer; what passes is acted on after a random delay
 * within the jitter window, and a newer pointer arriving in that window
 * replaces the pending one. Nothing a message holds can crash the agent.
 */
export class MqttPushListener {
  private pending: { text: string; sequence: number; timer: NodeJS.Timeout } | undefined;
  private readonly topic: string;
  private readonly onMessage = (topic: string, payload: Buffer): void => this.handle(topic, payload);
  private readonly onConnect = (): void => {
    this.client.subscribe(this.topic, { qos: 1 }, (err) => {
      if (err) this.logger.warn({ err, topic: this.topic }, "MQTT subscribe failed");
    });
  };

  constructor(
    private readonly client: MqttClient,
    name: string,
    channel: string,
    private readonly target: PushTarget,
    private readonly jitterMs: number,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.topic = channelTopic(name, channel);
  }

  start(): void {
    this.client.on("message", this.onMessage);
    this.client.on("connect", this.onConnect);
    if (this.client.connected) this.onConnect();
  }

  stop(): void {
    this.client.off("message", this.onMessage);
    this.client.off("connect", this.onConnect);
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = undefined;
  }

  private handle(topic: string, payload: Buffer): void {
    if (topic !== this.topic) return;
    if (payload.length === 0) return; // a cleared retained message
    if (payload.length > POINTER_MAX_BYTES) {
      this.logger.warn({ topic, bytes: payload.length, max: POINTER_MAX_BYTES }, "ignored an oversized MQTT message");
      return;
    }
    let text: string;
    try {
      text = strictUtf8.decode(payload);
    } catch {
      this.logger.warn({ topic, bytes: payload.length }, "ignored an MQTT message that is not UTF-8");
      return;
    }
    void this.screen(text, topic);
  }

  private async screen(text: string, topic: string): Promise<void> {
    let pointer: ChannelPointer;
    try {
      try {
        pointer = this.target.screenPointer(text);
      } catch (err) {
        if (toEdgeError(err).code !== "KEY_UNTRUSTED") throw err;
        await this.target.refreshKeys();
        pointer = this.target.screenPointer(text);
      }
    } catch (err) {
      const e = toEdgeError(err);
      this.logger.warn({ topic, code: e.code, err: e }, "ignored a pushed channel pointer");
      return;
    }
    if (this.pending && this.pending.sequence >= pointer.sequence) {
      this.logger.debug({ sequence: pointer.sequence }, "pushed pointer is not newer than the one pending");
      return;
    }
    if (this.pending) clearTimeout(this.pending.timer);
    const delay = Math.floor(this.random() * this.jitterMs);
    this.logger.info(
      { version: pointer.version, sequence: pointer.sequence, delayMs: delay },
      "release pushed; acting after jitter",
    );
    const timer = setTimeout(() => {
      this.pending = undefined;
      this.target.actOn(text).catch((err) => {
        const e = toEdgeError(err);
        this.logger.warn({ code: e.code, err: e }, "acting on a pushed pointer failed");
      });
    }, delay);
    this.pending = { text, sequence: pointer.sequence, timer };
  }
}
