import { randomBytes } from "node:crypto";
import mqtt, { type MqttClient } from "mqtt";
import {
  type DeviceEvent,
  type DeviceStatusMessage,
  deviceEventsTopic,
  deviceStatusTopic,
  type Inventory,
  offlineStatus,
} from "../../shared/topics.js";
import { SchemaValidator } from "./json-schema.js";

const schemas = new SchemaValidator();

export const SAMPLE_INVENTORY: Inventory = {
  os: "Debian GNU/Linux 12 (bookworm)",
  kernel: "6.1.0-28-arm64",
  arch: "arm64",
  cpu: { model: "Cortex-A72", cores: 4 },
  memory: { totalBytes: 4 * 1024 ** 3, availableBytes: 3 * 1024 ** 3 },
  disk: { mount: "/var/lib/edgepull", availableBytes: 20 * 1024 ** 3, sizeBytes: 32 * 1024 ** 3 },
  temperatureC: 48.5,
};

/** A full status as the agent sends it (checked against schemas/device-status.json before it is published). */
export function deviceStatus(deviceId: string, extra: Partial<DeviceStatusMessage> = {}): DeviceStatusMessage {
  const status: DeviceStatusMessage = {
    schema: 1,
    deviceId,
    online: true,
    at: new Date().toISOString(),
    name: "demo-model",
    channel: "stable",
    agentVersion: "0.1.0",
    activeVersion: "1.0.0",
    previousVersion: null,
    phase: "idle",
    lastResult: null,
    lastUpdate: null,
    health: { ok: true, status: 200 },
    withdrawn: null,
    inventory: SAMPLE_INVENTORY,
    ...extra,
  };
  const problems = schemas.validate("device-status.json", status);
  if (problems.length > 0) throw new Error(`not a status the agent sends: ${problems.join("; ")}`);
  return status;
}

/**
 * One simulated device on a real broker: its own MQTT connection with the
 * agent's retained offline last-will, retained statuses and events in the
 * agent's shapes. `vanish()` drops the socket so the broker sends the will.
 */
export class SimulatedDevice {
  private constructor(
    readonly id: string,
    private readonly client: MqttClient,
  ) {}

  static async connect(url: string, id: string): Promise<SimulatedDevice> {
    const will = {
      topic: deviceStatusTopic(id),
      payload: Buffer.from(JSON.stringify(offlineStatus(id))),
      qos: 1 as const,
      retain: true,
    };
    const client = await mqtt.connectAsync(url, {
      clientId: `sim-${randomBytes(4).toString("hex")}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 5,
      will,
    });
    return new SimulatedDevice(id, client);
  }

  async status(extra: Partial<DeviceStatusMessage> = {}): Promise<DeviceStatusMessage> {
    const status = deviceStatus(this.id, extra);
    await this.client.publishAsync(deviceStatusTopic(this.id), JSON.stringify(status), { qos: 1, retain: true });
    return status;
  }

  async event(extra: Partial<DeviceEvent> & Pick<DeviceEvent, "type" | "version">): Promise<void> {
    const event: DeviceEvent = {
      schema: 1,
      deviceId: this.id,
      name: "demo-model",
      at: new Date().toISOString(),
      fromVersion: null,
      attempt: 1,
      errorCode: null,
      error: null,
      durationMs: 10,
      bytes: 0,
      ...extra,
    };
    await this.client.publishAsync(deviceEventsTopic(this.id), JSON.stringify(event), { qos: 1 });
  }

  /** Gone without a goodbye: the broker publishes the retained last-will. */
  vanish(): void {
    this.client.stream.destroy();
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** A set of simulated devices, cleaned up together (a shared broker keeps retained statuses forever). */
export class SimulatedFleet {
  readonly devices: SimulatedDevice[] = [];

  constructor(readonly url: string) {}

  async add(id: string): Promise<SimulatedDevice> {
    const d = await SimulatedDevice.connect(this.url, id);
    this.devices.push(d);
    return d;
  }

  async close(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.close().catch(() => undefined)));
    const cleaner = await mqtt.connectAsync(this.url, { reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      for (const d of this.devices)
        await cleaner.publishAsync(deviceStatusTopic(d.id), Buffer.alloc(0), { qos: 1, retain: true });
    } finally {
      await cleaner.endAsync();
    }
    this.devices.length = 0;
  }
}
