import type { MqttClient } from "mqtt";
import { toEdgeError } from "../../shared/errors.js";
import { Agent } from "../agent.js";
import type { AgentConfig } from "../config.js";
import { ControlServer } from "../control/control-server.js";
import { readCurrentVersion } from "../install/activate.js";
import { componentLogger, type Logger } from "../logging.js";
import { connectMqtt } from "../mqtt-link.js";
import { HealthWatch } from "../service/health-watch.js";
import { InboxWatcher } from "../sources/inbox.js";
import { MqttPushListener } from "../sources/mqtt-listener.js";
import { MqttWithdrawalListener } from "../sources/mqtt-withdrawals.js";
import { LocalEndpoint } from "../telemetry/local-endpoint.js";
import { FleetReporting } from "../telemetry/reporting.js";
import { ServingAccountant } from "../telemetry/serving-accountant.js";
import type { AgentOptions } from "./agent-graph.js";
import { DAEMON_REQUESTS, type DaemonRoutes } from "./control-routes.js";

/** What the daemon is built from: the parts of the `run` command's context it reads. */
/** Serving time is written to the journal at least this often (and at every status and stop): flash wears. */
const SERVING_FLUSH_MS = 60_000;

export interface DaemonInputs {
  config: AgentConfig;
  logger: Logger;
  agentOptions: AgentOptions;
  agentVersion: string;
}

export interface Daemon {
  /** Recovery first, then the control socket, the local endpoint, reporting, and the sources once recovery is done. */
  start(): Promise<void>;
  /** Sources first, then the attempt (it resumes on the next start), the service, reporting and the broker link. */
  stop(): Promise<void>;
}

/**
 * The daemon's object graph, built in one place: the agent (wiring/agent-graph.ts)
 * and around it the MQTT link, fleet reporting and the health watch, the
 * control socket, MQTT push (pointers and withdrawals), the inbox and the
 * local endpoint, as the configuration asks.
 */
export async function wireDaemon(ctx: DaemonInputs): Promise<Daemon> {
  const { config, logger } = ctx;
  // Connecting does not wait for the broker: an unreachable broker at start is retried in the background.
  const mqttClient: MqttClient | undefined = config.mqtt
    ? connectMqtt(config.mqtt, config.deviceId, componentLogger(logger, "mqtt"))
    : undefined;
  let reporting: FleetReporting | undefined;
  let serving: ServingAccountant | undefined;
  const agent = await Agent.open(config, logger, "daemon", {
    ...ctx.agentOptions,
    onAttempt: (row) => {
      // An attempt's phase may restart or swap the service: no period spans it.
      serving?.interrupt();
      reporting?.onAttempt(row);
    },
    onWithdrawals: () => reporting?.refresh(),
  });
  // Service health can change with nothing journaled (the first ready after start, a crash, a hang).
  // The watch runs with or without MQTT: its readings are also the serving-time accounting.
  const watchMs = config.health.watchIntervalSeconds * 1000;
  const healthWatch = new HealthWatch({
    url: config.health.url,
    intervalMs: watchMs,
    timeoutMs: Math.min(2000, watchMs),
    service: agent.serviceController,
    busy: () => agent.attemptRunning,
    logger: componentLogger(logger, "health-watch"),
  });
  const accountant = new ServingAccountant({
    store: agent.store,
    activeVersion: () => readCurrentVersion(agent.layout),
    busy: () => agent.attemptRunning,
    // The watch probes every interval (plus the probe's own time): a longer silence is a paused daemon.
    maxGapMs: 2 * watchMs + Math.min(2000, watchMs),
    flushEveryMs: SERVING_FLUSH_MS,
    logger: componentLogger(logger, "serving-time"),
  });
  serving = accountant;
  healthWatch.on("reading", (reading) => void accountant.observe(reading));
  if (mqttClient && config.mqtt) {
    reporting = new FleetReporting(
      mqttClient,
      config.mqtt,
      config,
      ctx.agentVersion,
      componentLogger(logger, "reporter"),
      healthWatch,
      accountant,
    );
  }
  const control = new ControlServer<DaemonRoutes>(
    agent.layout.controlSocket,
    DAEMON_REQUESTS,
    {
      "/check": () => agent.check("cli", { wait: true }),
      "/rollback": () => agent.rollback("cli"),
      "/install": (request) => agent.installLocal(request.path, "sideload"),
    },
    componentLogger(logger, "control"),
  );
  const push =
    mqttClient && config.mqtt
      ? new MqttPushListener(
          mqttClient,
          config.name,
          config.channel,
          {
            screenPointer: (text) => agent.screenPointer(text),
            refreshKeys: async () => {
              await agent.keyRing.refresh(config.repository);
            },
            actOn: async (text) => {
              await agent.check("mqtt", { wait: false, pointerText: text });
            },
          },
          config.mqtt.pushJitterSeconds * 1000,
          componentLogger(logger, "mqtt-push"),
        )
      : undefined;
  const withdrawalPush =
    mqttClient && config.mqtt
      ? new MqttWithdrawalListener(
          mqttClient,
          config.name,
          {
            accept: (text) => agent.withdrawals.consider(text),
            refreshKeys: async () => {
              await agent.keyRing.refresh(config.repository);
            },
            actOn: async () => {
              await agent.check("mqtt", { wait: false });
            },
          },
          config.mqtt.pushJitterSeconds * 1000,
          componentLogger(logger, "mqtt-withdrawals"),
        )
      : undefined;
  const inbox = config.inbox
    ? new InboxWatcher(config.inbox, (path) => agent.installLocal(path, "inbox"), componentLogger(logger, "inbox"))
    : undefined;
  const endpoint = config.localEndpoint
    ? new LocalEndpoint({
        ...config.localEndpoint,
        config,
        agentVersion: ctx.agentVersion,
        logger: componentLogger(logger, "local-endpoint"),
        extraMetrics: () => agent.serviceController.proxyMetrics?.() ?? "",
      })
    : undefined;
  const stopService = config.service.mode === "supervise";
  let started: Promise<void> | undefined;

  return {
    async start() {
      logger.info(
        { deviceId: config.deviceId, name: config.name, channel: config.channel, dataDir: config.dataDir },
        "agent starting",
      );
      const recoveryFailed = (err: unknown): void => {
        const e = toEdgeError(err);
        if (e.code !== "INTERRUPTED") logger.error({ err: e, code: e.code }, "recovery failed");
      };
      // Sources start once recovery has planned, not once a resumed attempt ends: a channel check
      // during it finds it busy, supersedes it with a newer release or drops it (a rollout aborted
      // or a version withdrawn while the device was down), as it does a new attempt.
      const recovered = agent.beginRecovery().then(({ resumed }) => {
        resumed?.catch(recoveryFailed);
      }, recoveryFailed);
      await control.start();
      if (endpoint) {
        try {
          logger.info({ url: (await endpoint.start()).url }, "local status and metrics endpoint listening");
        } catch (err) {
          await control.stop();
          await healthWatch.stop();
          await accountant.stop();
          await agent.stop({ stopService });
          await mqttClient?.endAsync().catch(() => {});
          throw err;
        }
      }
      reporting?.start();
      healthWatch.start();
      started = recovered.then(() => {
        if (agent.stopping.aborted) return;
        push?.start();
        withdrawalPush?.start();
        inbox?.start().catch((err) => logger.error({ err, dir: config.inbox }, "cannot watch the inbox"));
        agent.startPolling(config.mqtt ? config.mqtt.fallbackPollIntervalSeconds : config.pollIntervalSeconds);
      });
    },
    async stop() {
      logger.info("agent stopping");
      push?.stop();
      withdrawalPush?.stop();
      await inbox?.stop();
      await control.stop();
      await endpoint?.stop();
      await healthWatch.stop();
      await accountant.stop();
      await agent.stop({ stopService });
      await started;
      await reporting?.stop();
      await mqttClient?.endAsync().catch(() => {});
      logger.info("agent stopped");
    },
  };
}
