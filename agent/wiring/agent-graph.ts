import { mkdir } from "node:fs/promises";
import { AttemptSlot } from "../attempt-slot.js";
import type { AgentConfig } from "../config.js";
import { type Layout, layoutFor } from "../install/layout.js";
import { componentLogger, type Logger } from "../logging.js";
import { type Clock, type CorePorts, type FaultHook, NO_FAULTS } from "../ports.js";
import type { ServiceController } from "../service/controller.js";
import { RestartCommand } from "../service/restart-command.js";
import { Supervisor } from "../service/supervisor.js";
import { ChannelChecker } from "../sources/channel-check.js";
import { KeyRing } from "../sources/key-ring.js";
import { WithdrawalTracker } from "../sources/withdrawal-tracker.js";
import { type Db, openDb } from "../state/db.js";
import { DeviceLock } from "../state/lock.js";
import { type AttemptRow, StateStore } from "../state/store.js";
import { loadTrustedKeys } from "../trusted-keys.js";
import { Updater } from "../update/orchestrator.js";
import { systemClock, systemDisk, systemMemory } from "./system-ports.js";

export interface AgentOptions {
  /** Stand-ins for the real clock, probes or service (in-process tests); the rest stay real. */
  ports?: Partial<Pick<CorePorts, "clock" | "disk" | "memory" | "service">>;
  /** Crash-test fault injection; see FaultHook. */
  fault?: FaultHook;
  /** Every journaled phase change of an attempt, for status reporting and fleet events. */
  onAttempt?: (row: AttemptRow) => void;
  /** A new withdrawal list was accepted. */
  onWithdrawals?: () => void;
  /** Bytes of the attempt's download and of its staging so far (the CLI's progress bar). */
  onDownloadProgress?: (received: number, total: number) => void;
  onStagingProgress?: (done: number, total: number) => void;
  /** Where a supervised service's output goes (see SupervisorOptions.output). */
  serviceOutput?: "stdout" | "stderr";
  /** Hand-over mode: the public port's listening socket, inherited from systemd (LISTEN_FDS). */
  listenFd?: number;
}

/** The device side's object graph: what the daemon and the one-shot commands run on. */
export interface AgentGraph {
  config: AgentConfig;
  logger: Logger;
  layout: Layout;
  clock: Clock;
  db: Db;
  lock: DeviceLock;
  store: StateStore;
  keyRing: KeyRing;
  withdrawals: WithdrawalTracker;
  service: ServiceController;
  updater: Updater;
  checker: ChannelChecker;
  slot: AttemptSlot;
  /** Aborted (with StopReason "shutdown") when the agent stops. */
  shutdown: AbortController;
}

/** Creates the data folders, takes the device lock (AGENT_BUSY if another process holds it) and opens the journal. */
export async function wireAgent(config: AgentConfig, logger: Logger, role: string, opts: AgentOptions = {}): Promise<AgentGraph> {
  const layout = layoutFor(config.dataDir);
  for (const dir of [layout.dataDir, layout.versionsDir, layout.stagingDir, layout.downloadsDir]) {
    await mkdir(dir, { recursive: true });
  }
  const trustedKeys = await loadTrustedKeys(config.trustedKeys);
  const lock = await DeviceLock.acquire(layout.lockFile, role);
  try {
    const db = openDb(layout.dbPath);
    const clock = opts.ports?.clock ?? systemClock;
    const store = new StateStore(db, () => clock.now());
    const { keyRing, withdrawals, checker } = wireSources(config, store, trustedKeys, logger, clock, opts);
    const service = opts.ports?.service ?? (await serviceFor(config, layout, logger, opts));
    const shutdown = new AbortController();
    const slot = new AttemptSlot(shutdown.signal, logger);
    const updater = new Updater({
      config,
      layout,
      ports: {
        clock,
        disk: opts.ports?.disk ?? systemDisk,
        memory: opts.ports?.memory ?? systemMemory,
        service,
        store,
        fault: opts.fault ?? NO_FAULTS,
      },
      recordedKeys: () => keyRing.everTrusted(),
      logger: componentLogger(logger, "updater"),
      onDownloadProgress: opts.onDownloadProgress,
      onStagingProgress: opts.onStagingProgress,
      onPhase: (row) => {
        slot.notePhase(row);
        opts.onAttempt?.(row);
      },
    });
    return { config, logger, layout, clock, db, lock, store, keyRing, withdrawals, service, updater, checker, slot, shutdown };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** The journal-backed sources: key ring, withdrawal list and channel checker (shared with dry runs). */
export function wireSources(
  config: AgentConfig,
  store: StateStore,
  trustedKeys: Awaited<ReturnType<typeof loadTrustedKeys>>,
  logger: Logger,
  clock: Clock,
  opts: Pick<AgentOptions, "onWithdrawals"> = {},
): Pick<AgentGraph, "keyRing" | "withdrawals" | "checker"> {
  const keyRing = new KeyRing(trustedKeys, store, componentLogger(logger, "keys"));
  const withdrawals = new WithdrawalTracker({
    config,
    store,
    keyRing,
    logger: componentLogger(logger, "withdrawals"),
    now: () => clock.now(),
    onAccepted: opts.onWithdrawals,
  });
  const checker = new ChannelChecker({
    config,
    store,
    keyRing,
    withdrawals,
    logger: componentLogger(logger, "channel"),
    now: () => clock.now(),
  });
  return { keyRing, withdrawals, checker };
}

async function serviceFor(config: AgentConfig, layout: Layout, logger: Logger, opts: AgentOptions): Promise<ServiceController> {
  const { service, health } = config;
  // What every supervised process of the service runs with, one version or several.
  const supervised = {
    command: service.command,
    cwd: service.cwd,
    env: service.env,
    stopTimeoutMs: service.stopTimeoutSeconds * 1000,
    output: opts.serviceOutput ?? "stdout",
  } as const;
  if (service.strategy === "handover" && service.handover) {
    // Loaded only in hand-over mode: restart mode carries no proxy.
    const { HandoverController } = await import("../service/handover-controller.js");
    const { handover } = service;
    const ready = new URL(health.url);
    return new HandoverController({
      supervised,
      instancesDir: layout.instancesDir,
      logger: componentLogger(logger, "handover"),
      publicPort: handover.port,
      listen: opts.listenFd !== undefined ? { fd: opts.listenFd } : { host: handover.host, port: handover.port },
      readyPath: `${ready.pathname}${ready.search}`,
      readyTimeoutMs: health.timeoutSeconds * 1000,
      readyIntervalMs: health.intervalMs,
      drainTimeoutMs: handover.drainTimeoutSeconds * 1000,
      requestTimeoutMs: handover.requestTimeoutSeconds * 1000,
      maxInFlight: handover.maxInFlight,
      retryAfterSeconds: handover.retryAfterSeconds,
      admission: {
        factor: handover.memoryFactor,
        reserveBytes: handover.memoryReserveMiB * 1024 * 1024,
        maxPressure: handover.maxMemoryPressure,
      },
      memory: opts.ports?.memory ?? systemMemory,
      ...(config.shadow ? { shadow: config.shadow } : {}),
      fault: opts.fault,
    });
  }
  return service.mode === "supervise"
    ? new Supervisor({ ...supervised, pidFile: layout.servicePidFile, logger: componentLogger(logger, "supervisor") })
    : new RestartCommand({
        command: service.command,
        cwd: service.cwd,
        timeoutMs: service.restartTimeoutSeconds * 1000,
        logger: componentLogger(logger, "restart-command"),
      });
}
