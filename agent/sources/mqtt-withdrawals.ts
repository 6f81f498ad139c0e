import type { MqttClient } from "mqtt";
import { toEdgeError } from "../../shared/errors.js";
import { WITHDRAWALS_MAX_BYTES, withdrawalsTopic } from "../../shared/topics.js";
import type { Logger } from "../logging.js";
import { TopicSubscription, withKeysRefreshed } from "./mqtt-listener.js";

export interface WithdrawalPushTarget {
  /** Verifies and records the list; true when it was new. Throws EdgeError for anything not to act on. */
  accept(text: string): boolean;
  /** Follows the keys chain, for a list signed by a freshly rotated-in key. */
  refreshKeys(): Promise<void>;
  /** Runs a channel check with the new list (a device on a withdrawn version moves). */
  actOn(): Promise<void>;
}

/**
 * Listens for the model's retained withdrawal list. A list passes the same
 * checks as a fetched one; a new one is recorded at once (a withdrawn version
 * is refused from then on) and acted on after a random delay within the jitter
 * window, so a fleet does not move at the same instant.
 */
export class MqttWithdrawalListener {
  private readonly subscription: TopicSubscription;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    client: MqttClient,
    name: string,
    private readonly target: WithdrawalPushTarget,
    private readonly jitterMs: number,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.subscription = new TopicSubscription(
      client,
      withdrawalsTopic(name),
      WITHDRAWALS_MAX_BYTES,
      (text) => void this.handle(text),
      logger,
    );
  }

  start(): void {
    this.subscription.start();
  }

  stop(): void {
    this.subscription.stop();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async handle(text: string): Promise<void> {
    let fresh: boolean;
    try {
      fresh = await withKeysRefreshed(
        () => this.target.accept(text),
        () => this.target.refreshKeys(),
      );
    } catch (err) {
      const e = toEdgeError(err);
      this.logger.warn({ topic: this.subscription.topic, code: e.code, err: e }, "ignored a pushed withdrawal list");
      return;
    }
    if (!fresh || this.timer) return;
    const delay = Math.floor(this.random() * this.jitterMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.target.actOn().catch((err) => {
        const e = toEdgeError(err);
        this.logger.warn({ code: e.code, err: e }, "checking the channel after a pushed withdrawal list failed");
      });
    }, delay);
  }
}
