import { performance } from "node:perf_hooks";
import type { IClientPublishOptions, MqttClient } from "mqtt";
import {
  type DeviceEvent,
  type DeviceStatusMessage,
  deviceEventsTopic,
  deviceStatusTopic,
  type Inventory,
  offlineStatus,
} from "../../shared/topics.js";
import type { Logger } from "../logging.js";
import { statusKey } from "./change-filter.js";
import { readInventory } from "./inventory.js";

/** What the agent knows about itself; the reporter adds identity, time, `online` and the inventory. */
export type StatusFields = Omit<DeviceStatusMessage, "schema" | "deviceId" | "online" | "at" | "inventory">;

export type StatusSource = () => Promise<StatusFields>;

export type EventFields = Omit<DeviceEvent, "schema" | "deviceId" | "at">;

export interface StatusReporterOptions {
  /** Created, connected and ended by the caller, with the last-will already set. */
  client: MqttClient;
  deviceId: string;
  source: StatusSource;
  /** The filesystem whose free space the inventory reports. */
  dataDir: string;
  /** At most one status per this many milliseconds. */
  minIntervalMs: number;
  /** Resend an unchanged status after this long (mqtt.statusHeartbeatSeconds). */
  heartbeatMs: number;
  /** Re-read the inventory (and check whether it moved) this often. Default 60 s. */
  inventoryEveryMs?: number;
  /** How long stop() waits for the broker to acknowledge the offline status. Default 5 s. */
  stopTimeoutMs?: number;
  logger: Logger;
  /** Clock for the `at` fields only; pacing uses `timers`. */
  now?: () => Date;
  /** Monotonic time and the timers for pacing, heartbeat, retries and the inventory. Default: the process's own. */
  timers?: ReporterTimers;
}

/** Monotonic time and one-shot timers, so tests can drive the pacing without sleeping. */
export interface ReporterTimers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `fn` once after `ms`, without keeping the process alive; returns what cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const processTimers: ReporterTimers = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms).unref();
    return () => clearTimeout(timer);
  },
};

const STATUS_QOS: IClientPublishOptions = { qos: 1, retain: true };
const EVENT_QOS: IClientPublishOptions = { qos: 1, retain: false };

/**
 * Keeps the device's retained status on the broker current without flooding
 * it: a status goes out when something meaningful changed (see statusKey), when
 * the heartbeat is due, and on every (re)connect, because a restarted broker
 * may have lost retained state. All status publishes are paced by
 * `minIntervalMs`, measured on a monotonic clock: boards without a real-time
 * clock jump years forward when NTP first syncs.
 */
export class StatusReporter {
  private readonly client: MqttClient;
  private readonly deviceId: string;
  private readonly source: StatusSource;
  private readonly dataDir: string;
  private readonly minIntervalMs: number;
  private readonly heartbeatMs: number;
  private readonly inventoryEveryMs: number;
  private readonly stopTimeoutMs: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly timers: ReporterTimers;
  private readonly statusTopic: string;
  private readonly eventsTopic: string;

  private started = false;
  private stopped = false;
  private running = false;
  private pending = false;
  private pendingForce = false;
  private lastKey: string | undefined;
  private lastSentAt: number | undefined;
  private inventory: { value: Inventory; readAt: number } | undefined;
  // Each the cancel function of an armed timer, undefined when none is.
  private sendTimer: (() => void) | undefined;
  private heartbeatTimer: (() => void) | undefined;
  private retryTimer: (() => void) | undefined;
  private inventoryTimer: (() => void) | undefined;
  private readonly onConnect = (): void => this.request(true);

  constructor(opts: StatusReporterOptions) {
    this.client = opts.client;
    this.deviceId = opts.deviceId;
    this.source = opts.source;
    this.dataDir = opts.dataDir;
    this.minIntervalMs = Math.max(0, opts.minIntervalMs);
    this.heartbeatMs = Math.max(1, opts.heartbeatMs);
    this.inventoryEveryMs = Math.max(1, opts.inventoryEveryMs ?? 60_000);
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5000;
    this.log = opts.logger;
    this.now = opts.now ?? (() => new Date());
    this.timers = opts.timers ?? processTimers;
    this.statusTopic = deviceStatusTopic(opts.deviceId);
    this.eventsTopic = deviceEventsTopic(opts.deviceId);
  }

  /** Publishes a full status now if connected, and again on every (re)connect. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.client.on("connect", this.onConnect);
    this.armInventory();
    if (this.client.connected) this.request(true);
  }

  /** Something the status shows may have changed: publish soon if it did, bursts coalesced. */
  notifyChange(): void {
    this.request(false);
  }

  /**
   * QoS 1, not retained. While the connection is down mqtt.js keeps the event
   * in its outgoing store and sends it after reconnecting.
   */
  publishEvent(event: EventFields): void {
    const full: DeviceEvent = { schema: 1, deviceId: this.deviceId, at: this.now().toISOString(), ...event };
    this.send(this.eventsTopic, JSON.stringify(full), EVENT_QOS, (err) =>
      this.log.warn({ err, type: event.type, version: event.version }, "could not publish device event"),
    );
  }

  /** Clears timers and listeners; with `offline`, leaves a retained offline status (the last-will's shape, with `at`). */
  async stop(opts: { offline: boolean }): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const cancel of [this.sendTimer, this.heartbeatTimer, this.retryTimer, this.inventoryTimer]) cancel?.();
    this.sendTimer = this.heartbeatTimer = this.retryTimer = this.inventoryTimer = undefined;
    this.client.removeListener("connect", this.onConnect);
    if (!opts.offline) return;
    if (!this.client.connected) {
      // A message queued now would die with the client; the broker publishes the last-will instead.
      this.log.info({ topic: this.statusTopic }, "not connected at stop; leaving the offline status to the last-will");
      return;
    }
    const payload = JSON.stringify({ ...offlineStatus(this.deviceId), at: this.now().toISOString() });
    await new Promise<void>((resolve) => {
      const cancelTimeout = this.timers.after(this.stopTimeoutMs, () => {
        this.log.warn(
          { topic: this.statusTopic, timeoutMs: this.stopTimeoutMs },
          "broker did not acknowledge the offline status",
        );
        resolve();
      });
      this.send(
        this.statusTopic,
        payload,
        STATUS_QOS,
        (err) => {
          cancelTimeout();
          if (err) this.log.warn({ err, topic: this.statusTopic }, "could not publish offline status");
          resolve();
        },
        () => {
          cancelTimeout();
          resolve();
        },
      );
    });
  }

  private request(force: boolean): void {
    if (!this.started || this.stopped) return;
    this.pending = true;
    this.pendingForce ||= force;
    this.schedule();
  }

  /** One status cycle at a time; requests arriving meanwhile are folded into the next one. */
  private schedule(): void {
    if (this.running || this.sendTimer || this.stopped) return;
    const wait = this.lastSentAt === undefined ? 0 : Math.max(0, this.lastSentAt + this.minIntervalMs - this.timers.now());
    this.sendTimer = this.timers.after(wait, () => {
      this.sendTimer = undefined;
      void this.cycle();
    });
  }

  private async cycle(): Promise<void> {
    this.running = true;
    const force = this.pendingForce;
    this.pending = false;
    this.pendingForce = false;
    try {
      await this.publishStatus(force);
    } catch (err) {
      this.log.warn({ err }, "status cycle failed");
    } finally {
      this.running = false;
      if (this.pending) this.schedule();
    }
  }

  private async publishStatus(force: boolean): Promise<void> {
    let fields: StatusFields;
    try {
      fields = await this.source();
    } catch (err) {
      this.log.warn({ err }, "status source failed; retrying later");
      this.pendingForce ||= force;
      this.armRetry();
      return;
    }
    const inventory = await this.currentInventory();
    // A cycle may outlive stop(); nothing may follow the offline status.
    if (this.stopped) return;
    // The connect handler sends a fresh status; one queued now would only be stale by then.
    if (!this.client.connected) return;
    const msg: DeviceStatusMessage = {
      schema: 1,
      deviceId: this.deviceId,
      online: true,
      at: this.now().toISOString(),
      ...fields,
      inventory,
    };
    const key = statusKey(msg);
    if (!force && key === this.lastKey) return;
    this.lastKey = key;
    this.lastSentAt = this.timers.now();
    this.armHeartbeat();
    this.send(this.statusTopic, JSON.stringify(msg), STATUS_QOS, (err) => {
      // Not known to have arrived: let the next cycle send it even if nothing changed.
      if (this.lastKey === key) this.lastKey = undefined;
      this.log.warn({ err, topic: this.statusTopic }, "could not publish status");
    });
  }

  private async currentInventory(): Promise<Inventory> {
    const at = this.timers.now();
    if (this.inventory && at - this.inventory.readAt < this.inventoryEveryMs) return this.inventory.value;
    const value = await readInventory(this.dataDir);
    this.inventory = { value, readAt: this.timers.now() };
    return value;
  }

  private armHeartbeat(): void {
    this.heartbeatTimer?.();
    this.heartbeatTimer = this.timers.after(this.heartbeatMs, () => this.request(true));
  }

  private armInventory(): void {
    this.inventoryTimer = this.timers.after(this.inventoryEveryMs, () => {
      this.armInventory();
      this.request(false);
    });
  }

  private armRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const delay = Math.min(this.heartbeatMs, Math.max(this.minIntervalMs, 15_000));
    this.retryTimer = this.timers.after(delay, () => {
      this.retryTimer = undefined;
      this.request(false);
    });
  }

  /** mqtt.js reports failures through the callback, but a closed client can also throw; neither reaches the caller. */
  private send(
    topic: string,
    payload: string,
    options: IClientPublishOptions,
    onError: (err: Error) => void,
    onDone?: () => void,
  ): void {
    try {
      this.client.publish(topic, payload, options, (err) => {
        if (err) onError(err);
        else onDone?.();
      });
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
