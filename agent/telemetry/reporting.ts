import type { MqttClient } from "mqtt";
import type { AgentConfig, MqttConfig } from "../config.js";
import type { Logger } from "../logging.js";
import type { HealthWatch } from "../service/health-watch.js";
import type { AttemptRow } from "../state/store.js";
import { eventForAttempt } from "./attempt-events.js";
import type { ServingAccountant } from "./serving-accountant.js";
import { StatusReporter } from "./status-reporter.js";
import { readStatus } from "./status-snapshot.js";

/**
 * Wires the daemon's status and events to MQTT: the status is the same
 * snapshot `edge-agent status` prints, and each journaled phase change both
 * refreshes it and, where it means one, sends a fleet event. Health comes from
 * the health watch: each change it sees asks for a fresh status (paced by the
 * reporter's minimum interval, never dropped), and each status is built on a
 * probe made through the watch, so the two agree.
 */
export class FleetReporting {
  private readonly reporter: StatusReporter;
  private readonly name: string;
  private readonly onHealthChange = (): void => this.reporter.notifyChange();

  constructor(
    client: MqttClient,
    mqtt: MqttConfig,
    config: AgentConfig,
    agentVersion: string,
    logger: Logger,
    private readonly health: HealthWatch,
    /** Writes the serving time it holds before each status is read, so the status carries it. */
    serving?: Pick<ServingAccountant, "settle">,
  ) {
    this.name = config.name;
    this.reporter = new StatusReporter({
      client,
      deviceId: config.deviceId,
      dataDir: config.dataDir,
      minIntervalMs: mqtt.statusMinIntervalSeconds * 1000,
      heartbeatMs: mqtt.statusHeartbeatSeconds * 1000,
      logger,
      source: async () => {
        const reading = await health.check();
        await serving?.settle();
        const s = await readStatus(config, { health: reading.probe });
        return {
          name: s.name,
          channel: s.channel,
          agentVersion,
          activeVersion: s.activeVersion,
          previousVersion: s.previousVersion,
          phase: s.phase,
          // Kept beside lastUpdate for fleet tools that read only it.
          lastResult: s.lastUpdate
            ? {
                version: s.lastUpdate.toVersion,
                result: s.lastUpdate.result,
                errorCode: s.lastUpdate.errorCode,
                at: s.lastUpdate.finishedAt,
              }
            : null,
          lastUpdate: s.lastUpdate,
          health: reading.health,
          withdrawn: s.withdrawn,
          versionHealth: s.versionHealth ?? [],
        };
      },
    });
  }

  start(): void {
    this.health.on("change", this.onHealthChange);
    this.reporter.start();
  }

  onAttempt(row: AttemptRow): void {
    const event = eventForAttempt(row, new Date());
    if (event) this.reporter.publishEvent({ name: this.name, ...event });
    this.reporter.notifyChange();
  }

  /** Something the status shows changed with nothing journaled (a withdrawal list arrived). */
  refresh(): void {
    this.reporter.notifyChange();
  }

  stop(): Promise<void> {
    this.health.off("change", this.onHealthChange);
    return this.reporter.stop({ offline: true });
  }
}
