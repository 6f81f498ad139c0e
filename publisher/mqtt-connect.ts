import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { IClientOptions, MqttClient } from "mqtt";
import { EdgeError } from "../shared/errors.js";
import { type MqttSettings, mqttClientOptions, mqttUrlProblem } from "../shared/mqtt-options.js";

/** How long an unreachable or silent broker may keep a publisher command waiting. */
export const MQTT_TIMEOUT_MS = 10_000;

/** Checks what can be checked without a network: the URL and the TLS files (CONFIG_INVALID). */
export function checkMqttSettings(settings: MqttSettings): IClientOptions {
  const problem = mqttUrlProblem(settings.url);
  if (problem) throw new EdgeError("CONFIG_INVALID", `${problem} (found ${JSON.stringify(settings.url)})`);
  return mqttClientOptions(settings);
}

/**
 * One connection attempt, no automatic retries: a publisher command either
 * reaches the broker within the timeout or fails with MQTT_ERROR, so a script
 * never hangs on a dead broker. Callers that keep the connection (fleet --watch)
 * turn reconnects on afterwards.
 */
export function connectBroker(settings: MqttSettings, opts: { clientIdPrefix: string; timeoutMs?: number }): Promise<MqttClient> {
  const timeoutMs = opts.timeoutMs ?? MQTT_TIMEOUT_MS;
  const options = checkMqttSettings(settings);
  // Loaded here, by the commands that talk to a broker: the others start without mqtt.js.
  const { connect } = createRequire(import.meta.url)("mqtt") as typeof import("mqtt");
  const client = connect(settings.url, {
    ...options,
    clientId: `${opts.clientIdPrefix}-${randomBytes(4).toString("hex")}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  return new Promise<MqttClient>((resolve, reject) => {
    let lastError: Error | undefined;
    const fail = (why: string): void => {
      cleanup();
      client.end(true);
      reject(new EdgeError("MQTT_ERROR", `cannot reach the MQTT broker at ${settings.url}: ${why}`, { cause: lastError }));
    };
    const onConnect = (): void => {
      cleanup();
      // Later errors end in "close", which callers watch; unheard, an "error" event would crash the process.
      client.on("error", () => {});
      resolve(client);
    };
    const onError = (err: Error): void => {
      lastError = err;
      // A refused login arrives as a CONNACK error; nothing more will come.
      if ("code" in err && typeof err.code === "number") fail(err.message);
    };
    const onClose = (): void => fail(lastError?.message ?? "connection closed before the broker accepted it");
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      client.off("connect", onConnect);
      client.off("error", onError);
      client.off("close", onClose);
    }
    client.on("connect", onConnect);
    client.on("error", onError);
    client.on("close", onClose);
  });
}

/** Disconnects cleanly, or drops the socket when the broker does not answer the DISCONNECT in time. */
export async function closeBroker(client: MqttClient, timeoutMs = 2000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => client.end(true, () => resolve()), timeoutMs);
    client.end(false, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
