import type { MqttClient } from "mqtt";
import { EdgeError } from "../../shared/errors.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import {
  ALL_CHANNEL_POINTERS,
  ALL_DEVICE_EVENTS,
  ALL_DEVICE_STATUS,
  ALL_WITHDRAWAL_LISTS,
  deviceIdOfTopic,
  withdrawalsNameOfTopic,
} from "../../shared/topics.js";
import { closeBroker, connectBroker } from "../mqtt-connect.js";
import { applyPointerMessage, emptyPointerBoard, type PointerBoard, type PointerOutcome } from "./fleet-pointers.js";
import { type ApplyOutcome, applyFleetMessage, emptyFleet, type Fleet } from "./fleet-state.js";
import { cell } from "./fleet-table.js";
import {
  applyWithdrawalsMessage,
  emptyWithdrawalBoard,
  type WithdrawalBoard,
  type WithdrawalOutcome,
} from "./fleet-withdrawals.js";

/** Retained statuses arrive in a burst right after SUBACK; this much silence ends it. */
export const QUIET_MS = 300;
/** How long an empty-looking fleet is given before it is taken as empty. */
export const FIRST_MESSAGE_MS = 1500;
const RECONNECT_MS = 2000;

export interface FleetWatchOptions {
  settings: MqttSettings;
  /** Upper bound on the wait for retained statuses. */
  maxWaitMs: number;
  quietMs?: number;
  /** Keep the connection alive across broker restarts (fleet --watch). */
  reconnect?: boolean;
  /** Skipped messages and connection trouble, one line each. */
  onWarning: (text: string) => void;
  /** Called after each applied message, with the message itself (the dashboard keeps what the fleet view drops). */
  onChange?: (outcome: ApplyOutcome | PointerOutcome | WithdrawalOutcome, topic: string, payload: Buffer) => void;
  connectTimeoutMs?: number;
  now?: () => Date;
  /** The map to keep the fleet in (the dashboard's, read as messages arrive); a new one by default. */
  fleet?: Fleet;
}

export interface FleetWatch {
  readonly fleet: Fleet;
  /** The retained channel pointers, for their expiry. */
  readonly pointers: PointerBoard;
  /** The retained withdrawal lists, for their expiry. */
  readonly withdrawals: WithdrawalBoard;
  /** Resolves once statuses stopped arriving for quietMs after subscribing, or after maxWaitMs. */
  readonly settled: Promise<void>;
  close(): Promise<void>;
}

function subscribe(client: MqttClient, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // QoS 0 on purpose: Mosquitto queues at most 1000 QoS 1 messages per client by default and
    // dropped the rest of a 5000-device retained burst (1020 arrived); at QoS 0 all 5000 did.
    // A clean-session view gains nothing from QoS 1: nothing is kept for it while it is away.
    const topics = [ALL_DEVICE_STATUS, ALL_DEVICE_EVENTS, ALL_CHANNEL_POINTERS, ALL_WITHDRAWAL_LISTS];
    client.subscribe(topics, { qos: 0 }, (err, granted) => {
      const refused = granted?.find((g) => g.qos === 128);
      if (err || refused) {
        const why = err?.message ?? `the broker refused ${refused?.topic}`;
        reject(
          new EdgeError("MQTT_ERROR", `subscribing to device, channel and withdrawal topics on ${url} failed: ${why}`, {
            cause: err,
          }),
        );
      } else resolve();
    });
  });
}

/**
 * Subscribes to every device's status and events and keeps an in-memory fleet
 * up to date. Fails with MQTT_ERROR when the broker cannot be reached or refuses
 * the subscription.
 */
export async function openFleetWatch(opts: FleetWatchOptions): Promise<FleetWatch> {
  const fleet = opts.fleet ?? emptyFleet();
  const pointers = emptyPointerBoard();
  const withdrawals = emptyWithdrawalBoard();
  const now = opts.now ?? (() => new Date());
  const quietMs = opts.quietMs ?? QUIET_MS;
  const client = await connectBroker(opts.settings, {
    clientIdPrefix: "edge-publish-fleet",
    timeoutMs: opts.connectTimeoutMs,
  });

  let quietTimer: NodeJS.Timeout | undefined;
  let maxTimer: NodeJS.Timeout | undefined;
  let state: "subscribing" | "collecting" | "settled" = "subscribing";
  let finish: (err?: Error) => void = () => {};
  const settled = new Promise<void>((resolve, reject) => {
    finish = (err) => {
      if (state === "settled") return;
      state = "settled";
      clearTimeout(quietTimer);
      clearTimeout(maxTimer);
      if (err) reject(err);
      else resolve();
    };
  });
  // Keep the promise from counting as unhandled when nobody awaits it (close() during a watch).
  settled.catch(() => {});

  client.on("message", (topic, payload) => {
    // Both patterns match edgepull/v1/devices/channels/status: that is device "channels" reporting.
    const outcome =
      deviceIdOfTopic(topic) !== undefined
        ? applyFleetMessage(fleet, topic, payload, now())
        : withdrawalsNameOfTopic(topic) !== undefined
          ? applyWithdrawalsMessage(withdrawals, topic, payload)
          : applyPointerMessage(pointers, topic, payload);
    if (outcome.kind === "skipped") {
      opts.onWarning(`skipped a message on ${cell(JSON.stringify(topic))}: ${cell(outcome.reason)}`);
      return;
    }
    if (state === "collecting" && outcome.kind !== "event") {
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => finish(), quietMs);
    }
    opts.onChange?.(outcome, topic, payload);
  });
  client.on("close", () => {
    // Without reconnects a half-collected fleet would be printed as if complete.
    if (!opts.reconnect && !client.disconnecting) {
      finish(new EdgeError("MQTT_ERROR", `the MQTT broker at ${opts.settings.url} closed the connection`));
    }
  });

  if (opts.reconnect) watchConnection(client, opts);

  try {
    await subscribe(client, opts.settings.url);
  } catch (err) {
    client.end(true);
    throw err;
  }
  state = "collecting";
  // The first retained status may take a while on a loaded broker; between statuses, quietMs of silence ends it.
  quietTimer = setTimeout(() => finish(), Math.min(Math.max(quietMs, FIRST_MESSAGE_MS), opts.maxWaitMs));
  maxTimer = setTimeout(() => finish(), opts.maxWaitMs);

  return {
    fleet,
    pointers,
    withdrawals,
    settled,
    close: async () => {
      finish();
      client.removeAllListeners("message");
      await closeBroker(client);
    },
  };
}

/** Reconnects with a fixed pause and says once per outage that the view is stale. */
function watchConnection(client: MqttClient, opts: FleetWatchOptions): void {
  client.options.reconnectPeriod = RECONNECT_MS;
  let lost = false;
  let lastError = "";
  client.on("error", (err) => {
    lastError = err.message;
  });
  client.on("close", () => {
    if (lost || client.disconnecting) return;
    lost = true;
    opts.onWarning(`lost the MQTT broker at ${opts.settings.url}${lastError ? ` (${lastError})` : ""}; reconnecting`);
  });
  client.on("connect", () => {
    if (!lost) return;
    lost = false;
    lastError = "";
    opts.onWarning(`reconnected to ${opts.settings.url}`);
  });
}
