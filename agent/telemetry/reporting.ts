import type { MqttClient } from "mqtt";
import type { AgentConfig, MqttConfig } from "../config.js";
import type { Logger } from "../logging.js";
import type { AttemptRow } from "../state/store.js";
import { eventForAttempt } from "./attempt-events.js";
import { StatusReporter } from "./status-reporter.js";
import { readStatus } from "./status-snapshot.js";

/**
 * Wires the daemon's status and events to MQTT: the status is the same
 * snapshot `edge-agent status` prints, and each journaled phase change both
 * refreshes it and, where it means one, sends a fleet event.
 */
export class FleetReporting {
  private readonly reporter: StatusReporter;
  private readonly name: string;

  constructor(client: MqttClient, mqtt: MqttConfig, config: AgentConfig, agentVersion: string, logger: Logger) {
    this.name = config.name;
    this.reporter = new StatusReporter({
      client,
      deviceId: config.deviceId,
      dataDir: config.dataDir,
      minIntervalMs: mqtt.statusMinIntervalSeconds * 1000,
      heartbeatMs: mqtt.statusHeartbeatSeconds * 1000,
      logger,
      source: async () => {
        const s = await readStatus(config, { probeTimeoutMs: 1000 });
        return {
          name: s.name,
          channel: s.channel,
          agentVersion,
          activeVersion: s.activeVersion,
          previousVersion: s.previousVersion,
          phase: s.phase,
          lastResult: s.lastUpdate
            ? {
                version: s.lastUpdate.version,
                result: s.lastUpdate.result,
                errorCode: s.lastUpdate.errorCode,
                at: s.lastUpdate.finishedAt,
              }
            : null,
          health: { ok: s.health.ok, status: s.health.status, error: s.health.error },
        };
      },
    });
  }

  start(): void {
    this.reporter.start();
  }

  onAttempt(row: AttemptRow): void {
    const event = eventForAttempt(row, new Date());
    if (event) this.reporter.publishEvent({ name: this.name, ...event });
    this.reporter.notifyChange();
  }

  /** Health can change with nothing journaled (a crash, a recovery); the poll loop calls this. */
  refresh(): void {
    this.reporter.notifyChange();
  }

  stop(): Promise<void> {
    return this.reporter.stop({ offline: true });
  }
}
