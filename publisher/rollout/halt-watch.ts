import type { MqttClient } from "mqtt";
import { EdgeError } from "../../shared/errors.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { ALL_DEVICE_EVENTS, deviceIdOfTopic } from "../../shared/topics.js";
import { closeBroker, connectBroker } from "../mqtt-connect.js";
import { decideHalt, type HaltDecision, type HaltPolicy, type Results, recordEvent } from "./halt-policy.js";

const EVENT_MAX_BYTES = 64 * 1024;

export type WatchEnd = "halt" | "time" | "signal";

export interface EventWatch {
  readonly results: Results;
  /** Resolves when the policy says halt, the time is up or `stop` resolves; rejects when the broker goes away. */
  until(policy: HaltPolicy, watchMs: number, stop: Promise<void>): Promise<{ end: WatchEnd; decision: HaltDecision }>;
  close(): Promise<void>;
}

function parseEvent(
  topic: string,
  payload: Buffer,
): { deviceId: string; name?: string; type: string; version: string; at: string } | string {
  const deviceId = deviceIdOfTopic(topic);
  if (deviceId === undefined) return "not a device events topic";
  if (payload.length > EVENT_MAX_BYTES) return `${payload.length} bytes`;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
  } catch {
    return "not JSON";
  }
  if (typeof body !== "object" || body === null || body.schema !== 1) return "not a schema 1 event";
  if (body.deviceId !== deviceId) return "deviceId does not match the topic";
  const { type, version, at, name } = body;
  if (typeof type !== "string" || typeof version !== "string" || typeof at !== "string" || Number.isNaN(Date.parse(at)))
    return "type, version and at must be strings (at an ISO time)";
  if (name !== undefined && typeof name !== "string") return "name must be a string";
  return { deviceId, type, version, at, ...(name === undefined ? {} : { name }) };
}

/**
 * Subscribes to every device's events and keeps the final result of each device
 * for `version`. Open it before the share changes so no early report is missed.
 */
export async function openEventWatch(opts: {
  settings: MqttSettings;
  /** The model whose devices count; events naming another model are ignored. */
  name: string;
  version: string;
  onWarning: (text: string) => void;
  timeoutMs?: number;
}): Promise<EventWatch> {
  const client: MqttClient = await connectBroker(opts.settings, {
    clientIdPrefix: "edge-publish-rollout",
    timeoutMs: opts.timeoutMs,
  });
  const results: Results = new Map();
  let onChange: () => void = () => {};
  let onLost: (err: Error) => void = () => {};
  client.on("message", (topic, payload) => {
    const event = parseEvent(topic, payload);
    if (typeof event === "string") {
      opts.onWarning(`skipped a message on ${JSON.stringify(topic)}: ${event}`);
      return;
    }
    if (recordEvent(results, opts.name, opts.version, event)) onChange();
  });
  client.on("close", () => {
    if (!client.disconnecting) {
      onLost(new EdgeError("MQTT_ERROR", `the MQTT broker at ${opts.settings.url} closed the connection while watching`));
    }
  });
  try {
    await client.subscribeAsync(ALL_DEVICE_EVENTS, { qos: 1 });
  } catch (err) {
    client.end(true);
    throw new EdgeError(
      "MQTT_ERROR",
      `subscribing to ${ALL_DEVICE_EVENTS} on ${opts.settings.url} failed: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return {
    results,
    until: (policy, watchMs, stop) =>
      new Promise((resolve, reject) => {
        const finish = (end: WatchEnd): void => {
          clearTimeout(timer);
          onChange = () => {};
          onLost = () => {};
          resolve({ end, decision: decideHalt(results, policy) });
        };
        const timer = setTimeout(() => finish("time"), watchMs);
        onChange = () => {
          if (decideHalt(results, policy).halt) finish("halt");
        };
        onLost = (err) => {
          clearTimeout(timer);
          reject(err);
        };
        void stop.then(() => finish("signal"));
        // Reports that arrived while the share was being set count too.
        onChange();
      }),
    close: async () => {
      client.removeAllListeners("message");
      await closeBroker(client);
    },
  };
}
