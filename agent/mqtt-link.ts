import { createRequire } from "node:module";
import type { MqttClient } from "mqtt";
import { backoffDelay } from "../shared/backoff.js";
import { mqttClientOptions } from "../shared/mqtt-options.js";
import { deviceStatusTopic, offlineStatus } from "../shared/topics.js";
import type { MqttConfig } from "./config.js";
import type { Logger } from "./logging.js";

/**
 * The device's one connection to the broker, shared by the push listener and
 * the status reporter. The broker announces `online: false` (retained) by
 * last-will when the device vanishes. A broker that is down at start or goes
 * away later is retried with capped exponential backoff and jitter; mqtt.js
 * resubscribes after each reconnect.
 */
export function connectMqtt(config: MqttConfig, deviceId: string, logger: Logger): MqttClient {
  const base = { baseMs: 1000, capMs: 60_000 };
  // Loaded here, so a device without MQTT never loads it, and with require: an ESM import of this
  // CommonJS package has Node scan its sources for export names, long enough for V8 to optimise
  // the scanner, and that compilation's memory (about 10 MiB at its peak) was partly never returned.
  const { connect } = createRequire(import.meta.url)("mqtt") as typeof import("mqtt");
  const client = connect(
    config.url,
    mqttClientOptions(config, {
      clientId: `edgepull-${deviceId}`,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 1000,
      resubscribe: true,
      // Off: mqtt-packet would otherwise pre-build a Buffer for each of the 65,536 message ids on the
      // first packet (6 MiB of heap for the life of the process); it now makes the 2 bytes per packet.
      writeCache: false,
      will: {
        topic: deviceStatusTopic(deviceId),
        payload: Buffer.from(JSON.stringify(offlineStatus(deviceId))),
        qos: 1,
        retain: true,
      },
    }),
  );
  let failures = 0;
  client.on("connect", () => {
    if (failures > 0) logger.info({ url: config.url, after: failures }, "MQTT reconnected");
    else logger.info({ url: config.url }, "MQTT connected");
    failures = 0;
    client.options.reconnectPeriod = 1000;
  });
  client.on("close", () => {
    failures++;
    // mqtt.js reads this before scheduling each reconnect: spread and slow the fleet's retries.
    client.options.reconnectPeriod = Math.max(500, backoffDelay(failures, base));
    if (failures === 1 || failures % 10 === 0) {
      logger.warn({ url: config.url, failures, retryInMs: client.options.reconnectPeriod }, "MQTT connection lost; retrying");
    }
  });
  client.on("error", (err) => logger.warn({ err, url: config.url }, "MQTT error"));
  return client;
}
