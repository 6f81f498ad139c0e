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
  await publishRetained({
    settings: opts.settings,
    topic: channelTopic(opts.name, opts.channel),
    payload: opts.pointerBytes,
    what: `channel pointer ${opts.name}/${opts.channel}`,
    maxBytes: POINTER_MAX_BYTES,
    timeoutMs: opts.timeoutMs,
  });
}

/** Any signed document, retained with QoS 1, resolved after the broker's PUBACK. */
export async function publishRetained(opts: {
  settings: MqttSettings;
  topic: string;
  payload: Buffer;
  /** Names the document in errors. */
  what: string;
  /** What agents read at most from this topic. */
  maxBytes: number;
  timeoutMs?: number;
}): Promise<void> {
  if (opts.payload.length === 0 || opts.payload.length > opts.maxBytes) {
    // Agents refuse larger payloads unread, and an empty retained payload would delete the topic's message.
    throw new EdgeError("METADATA_MALFORMED", `${opts.what} is ${opts.payload.length} bytes; expected 1 to ${opts.maxBytes}`);
  }
  const timeoutMs = opts.timeoutMs ?? MQTT_TIMEOUT_MS;
  const client = await connectBroker(opts.settings, { clientIdPrefix: "edge-publish", timeoutMs });
  try {
    await awaitPuback(client, opts.topic, opts.payload, timeoutMs, opts.settings.url);
  } finally {
    await closeBroker(client);
  }
}

/** Pushes a file already written to the repository; a broker failure says that only the broker is behind. */
export async function pushWrittenFile(path: string, push: () => Promise<void>): Promise<void> {
  try {
    await push();
  } catch (err) {
    if (err instanceof EdgeError) {
      // Polling devices already see the new file; only pushed devices miss it.
      throw new EdgeError(err.code, `${err.message} (${path} was written; only the broker is behind)`, { cause: err });
    }
    throw err;
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
