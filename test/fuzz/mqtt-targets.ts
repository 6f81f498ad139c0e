import { EventEmitter } from "node:events";
import fc from "fast-check";
import type { MqttClient } from "mqtt";
import { pino } from "pino";
import { expect } from "vitest";
import { verifyPointerText } from "../../agent/sources/intake.js";
import { MqttPushListener } from "../../agent/sources/mqtt-listener.js";
import { applyFleetMessage, emptyFleet } from "../../publisher/fleet/fleet-state.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { CHANNEL_TYPE } from "../../shared/manifest.js";
import { signEnvelope } from "../../shared/signature.js";
import { channelTopic, deviceEventsTopic, deviceStatusTopic } from "../../shared/topics.js";
import { newSigner } from "../helpers/tar-craft.js";
import { applyDamage, type Damage, damageArbitrary, defineTarget, type FuzzTarget } from "./fuzz.js";

/**
 * Fuzz targets for MQTT payloads: a pushed channel pointer as the agent's
 * listener receives it, and device status and events as the fleet view reads them.
 */
const signer = newSigner();
const TOPIC = channelTopic("demo", "stable");
const validPointer = Buffer.from(
  canonicalJson(
    signEnvelope(
      {
        _type: CHANNEL_TYPE,
        specVersion: 1,
        name: "demo",
        channel: "stable",
        version: "1.2.0",
        sequence: 9,
        createdAt: "2030-05-01T00:00:00Z",
        expiresAt: "2099-01-01T00:00:00Z",
        release: { url: "releases/demo/1.2.0/release.json", size: 10, sha256: sha256Hex("r") },
      },
      [signer.privateKey],
    ),
  ),
);
const validStatus = Buffer.from(
  JSON.stringify({
    schema: 1,
    deviceId: "dev-1",
    online: true,
    at: "2030-05-01T00:00:00Z",
    name: "demo",
    activeVersion: "1.2.0",
    lastResult: { version: "1.2.0", result: "succeeded", errorCode: null, at: null },
    health: { ok: true, status: 200 },
  }),
);
const validEvent = Buffer.from(
  JSON.stringify({
    schema: 1,
    deviceId: "dev-1",
    name: "demo",
    type: "failed",
    at: "2030-05-01T00:00:00Z",
    version: "1.2.0",
    fromVersion: null,
    attempt: 3,
    errorCode: "HEALTH_FAILED",
    error: "x",
    durationMs: 5,
    bytes: 9,
  }),
);

/** A payload: random bytes, or a valid message damaged. */
const payloadOf = (valid: Buffer) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    damageArbitrary(4).map((d: Damage) => applyDamage(valid, d)),
  );

/** Just enough of an MqttClient for the listener: it only subscribes and listens for messages. */
class FakeClient extends EventEmitter {
  connected = false;
  subscribe(): this {
    return this;
  }
}

export const mqttTargets: FuzzTarget<unknown>[] = [
  defineTarget<Buffer>({
    name: "mqtt-pushed-pointer",
    arbitrary: () => payloadOf(validPointer),
    quickRuns: 200,
    check: async (payload) => {
      const logged: { code?: string }[] = [];
      const logger = pino({ level: "debug" }, { write: (line: string) => logged.push(JSON.parse(line) as { code?: string }) });
      const client = new FakeClient();
      const listener = new MqttPushListener(
        client as unknown as MqttClient,
        "demo",
        "stable",
        {
          screenPointer: (text) =>
            verifyPointerText(text, {
              trustedKeys: [signer.publicKey],
              name: "demo",
              channel: "stable",
              now: new Date("2030-06-01T00:00:00Z"),
              highestSequence: 5,
            }).pointer,
          actOn: async () => {},
          refreshKeys: async () => {},
        },
        0,
        logger,
      );
      listener.start();
      try {
        // A message handler that threw would take the agent's MQTT link down with it.
        client.emit("message", TOPIC, payload);
        await new Promise((r) => setImmediate(r));
        for (const line of logged) expect(line.code).not.toBe("INTERNAL");
      } finally {
        listener.stop();
      }
    },
  }),
  defineTarget<{ kind: "status" | "events"; device: string; payload: Buffer }>({
    name: "mqtt-fleet-message",
    arbitrary: () =>
      fc.oneof(
        fc.record({
          kind: fc.constant("status" as const),
          device: fc.constantFrom("dev-1", "dev-2"),
          payload: payloadOf(validStatus),
        }),
        fc.record({
          kind: fc.constant("events" as const),
          device: fc.constantFrom("dev-1", "dev-2"),
          payload: payloadOf(validEvent),
        }),
      ),
    quickRuns: 200,
    check: ({ kind, device, payload }) => {
      const topic = kind === "status" ? deviceStatusTopic(device) : deviceEventsTopic(device);
      const outcome = applyFleetMessage(emptyFleet(), topic, payload, new Date("2030-05-01T00:00:00Z"));
      expect(["status", "event", "cleared", "skipped"]).toContain(outcome.kind);
    },
  }),
];
