import mqtt, { type MqttClient } from "mqtt";
import { type DeviceEvent, type DeviceStatusMessage, deviceIdOfTopic, TOPIC_ROOT } from "../shared/topics.js";

/** One message on a device topic, stamped with this process's clock when it arrived. */
export interface SeenMessage {
  receivedAt: number;
  deviceId: string;
  topic: string;
  /** Delivered from the broker's retained store at subscribe time, not sent now. */
  retained: boolean;
  status?: DeviceStatusMessage;
  event?: DeviceEvent;
}

/** The fleet view a benchmark needs: one subscriber on every device topic, everything recorded. */
export class DeviceWatch {
  readonly messages: SeenMessage[] = [];
  readonly latest = new Map<string, SeenMessage & { status: DeviceStatusMessage }>();

  private constructor(private readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      const deviceId = deviceIdOfTopic(topic);
      if (!deviceId) return;
      const seen: SeenMessage = { receivedAt: Date.now(), deviceId, topic, retained: packet.retain };
      if (payload.length > 0) {
        const body = JSON.parse(payload.toString());
        if (topic.endsWith("/status")) seen.status = body;
        else seen.event = body;
      }
      this.messages.push(seen);
      if (seen.status) this.latest.set(deviceId, { ...seen, status: seen.status });
    });
  }

  static async connect(url: string): Promise<DeviceWatch> {
    const client = await mqtt.connectAsync(url, { clientId: `bench-watch-${process.pid}-${Date.now()}` });
    const watch = new DeviceWatch(client);
    await client.subscribeAsync(`${TOPIC_ROOT}/devices/+/#`, { qos: 1 });
    return watch;
  }

  /** Waits until `done()` holds, checking every 50 ms; on timeout the error says what `pending()` still lists. */
  async until(what: string, done: () => boolean, timeoutMs: number, pending?: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`${what}: not done after ${timeoutMs} ms${pending ? `; ${pending()}` : ""}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    return this.client.endAsync();
  }
}

/** The status a device sends once it runs `version` and has nothing left to do. */
export function settledOn(status: DeviceStatusMessage | undefined, version: string): boolean {
  return status?.online === true && status.activeVersion === version && status.phase === "idle";
}
