import type { MqttClient } from "mqtt";
import { EdgeError } from "../shared/errors.js";
import type { MqttSettings } from "../shared/mqtt-options.js";
import { channelTopic, POINTER_MAX_BYTES, topicLevelProblem } from "../shared/topics.js";
import { closeBroker, connectBroker, MQTT_TIMEOUT_MS } from "./mqtt-connect.js";

export interface PublishPointerOptions {
  settings: MqttSettings;
  name: string;
  channel: string;
  /** The pointer file's exact bytes: devices verify the signature over what they receive. */
  pointerBytes: Buffer;
  /** Connect and acknowledgement deadline, each; 10 s unless a test shortens it. */
  timeoutMs?: number;
}

/**
 * Publishes a signed channel pointer retained with QoS 1 and resolves only after
 * the broker's PUBACK: once this returns, devices connecting later get it.
 */
export async function publishPointerToBroker(opts: PublishPointerOptions): Promise<void> {
  const problem = topicLevelProblem(opts.name, "name") ?? topicLevelProblem(opts.channel, "channel");
  if (problem) throw new EdgeError("USAGE", problem);
  if (opts.pointerBytes.length === 0 || opts.pointerBytes.length > POINTER_MAX_BYTES) {
    // Agents refuse larger pointers unread, and an empty retained payload would delete the channel.
    throw new EdgeError(
      "METADATA_MALFORMED",
      `channel pointer ${opts.name}/${opts.channel} is ${opts.pointerBytes.length} bytes; expected 1 to ${POINTER_MAX_BYTES}`,
    );
  }
  const topic = channelTopic(opts.name, opts.channel);
  const timeoutMs = opts.timeoutMs ?? MQTT_TIMEOUT_MS;
  const client = await connectBroker(opts.settings, { clientIdPrefix: "edge-publish", timeoutMs });
  try {
    await awaitPuback(client, topic, opts.pointerBytes, timeoutMs, opts.settings.url);
  } finally {
    await closeBroker(client);
  }
}

function awaitPuback(client: MqttClient, topic: string, payload: Buffer, timeoutMs: number, url: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      client.off("close", onClose);
      if (!err) resolve();
      else reject(new EdgeError("MQTT_ERROR", `publishing ${topic} to ${url} failed: ${err.message}`, { cause: err }));
    };
    // Without reconnects a QoS 1 message in flight when the socket drops would wait forever.
    const onClose = (): void => done(new Error("the broker closed the connection before acknowledging"));
    const timer = setTimeout(() => done(new Error(`no PUBACK within ${timeoutMs} ms`)), timeoutMs);
    client.on("close", onClose);
    client.publish(topic, payload, { qos: 1, retain: true }, (err) => done(err ?? undefined));
  });
}
