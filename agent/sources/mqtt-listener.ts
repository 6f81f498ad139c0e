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

/** A pushed document's text, or undefined (logged) for a cleared, oversized or non-UTF-8 message. */
function pushedText(payload: Buffer, maxBytes: number, topic: string, logger: Logger): string | undefined {
  if (payload.length === 0) return undefined; // a cleared retained message
  if (payload.length > maxBytes) {
    logger.warn({ topic, bytes: payload.length, max: maxBytes }, "ignored an oversized MQTT message");
    return undefined;
  }
  try {
    return strictUtf8.decode(payload);
  } catch {
    logger.warn({ topic, bytes: payload.length }, "ignored an MQTT message that is not UTF-8");
    return undefined;
  }
}

/**
 * One topic's messages as text, subscribed again on every (re)connect (a
 * restarted broker forgets subscriptions). Cleared, oversized and non-UTF-8
 * messages are dropped with a log line.
 */
export class TopicSubscription {
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    if (topic !== this.topic) return;
    const text = pushedText(payload, this.maxBytes, topic, this.logger);
    if (text !== undefined) this.onText(text);
  };
  private readonly onConnect = (): void => {
    this.client.subscribe(this.topic, { qos: 1 }, (err) => {
      if (err) this.logger.warn({ err, topic: this.topic }, "MQTT subscribe failed");
    });
  };

  constructor(
    private readonly client: MqttClient,
    readonly topic: string,
    private readonly maxBytes: number,
    private readonly onText: (text: string) => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.client.on("message", this.onMessage);
    this.client.on("connect", this.onConnect);
    if (this.client.connected) this.onConnect();
  }

  stop(): void {
    this.client.off("message", this.onMessage);
    this.client.off("connect", this.onConnect);
  }
}

/** Runs a check of pushed metadata; signed by a key not yet trusted, follows the keys chain and tries once more. */
export async function withKeysRefreshed<T>(check: () => T, refreshKeys: () => Promise<void>): Promise<T> {
  try {
    return check();
  } catch (err) {
    if (toEdgeError(err).code !== "KEY_UNTRUSTED") throw err;
    await refreshKeys();
    return check();
  }
}

/**
 * Listens for the channel's retained pointer. Every message passes the same
 * intake as a polled pointer; what passes is acted on after a random delay
 * within the jitter window, and a newer pointer arriving in that window
 * replaces the pending one. Nothing a message holds can crash the agent.
 */
export class MqttPushListener {
  private pending: { text: string; sequence: number; timer: NodeJS.Timeout } | undefined;
  private readonly subscription: TopicSubscription;

  constructor(
    client: MqttClient,
    name: string,
    channel: string,
    private readonly target: PushTarget,
    private readonly jitterMs: number,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    const topic = channelTopic(name, channel);
    this.subscription = new TopicSubscription(client, topic, POINTER_MAX_BYTES, (text) => void this.screen(text, topic), logger);
  }

  start(): void {
    this.subscription.start();
  }

  stop(): void {
    this.subscription.stop();
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = undefined;
  }

  private async screen(text: string, topic: string): Promise<void> {
    let pointer: ChannelPointer;
    try {
      pointer = await withKeysRefreshed(
        () => this.target.screenPointer(text),
        () => this.target.refreshKeys(),
      );
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
