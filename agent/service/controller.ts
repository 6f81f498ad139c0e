import type { ShadowFigures } from "../proxy/shadow/compare.js";

/**
 * How the updater starts the inference service on a version and learns that it
 * died. Two modes: the agent supervises the service as its own child, or it runs
 * an operator's restart command (systemctl, docker, ...) and the service lives
 * elsewhere.
 */
export interface ServiceExit {
  code: number | null;
  signal: string | null;
  at: string;
}

export interface ServiceDescription {
  mode: "supervise" | "command";
  running: boolean;
  pid?: number;
  /** supervise: respawns after unexpected exits; command: restart commands that succeeded. */
  restarts: number;
  lastExit?: ServiceExit;
  handover?: HandoverDescription;
}

/**
 * What a hand-over controller did on restart() (restart mode returns nothing):
 * `switched` the new version started beside the serving one and took over between requests;
 * `switched-back` a version still running as standby took requests back (a rollback in probation);
 * `kept` that version already served; `skipped` memory was short, so it restarted in place with
 * 503 + Retry-After while loading; `cold` nothing served before (the same 503s while loading).
 */
export type RestartOutcome =
  | { handover: "switched"; from: string; shadow?: ShadowFigures }
  | { handover: "switched-back"; from: string }
  | { handover: "kept" | "cold" }
  | { handover: "skipped"; reason: "MEMORY_LOW" | "MEMORY_PRESSURE"; detail: string };

export interface HandoverDescription {
  /** The public port's listener, and whether systemd handed it over. */
  listen: string;
  serving?: { version: string; port: number; pid?: number };
  /** Previous versions still running until their drain (after probation). */
  standby: { version: string; port: number }[];
}

export interface ServiceController {
  /** (Re)starts the service on the given version folder (absolute, already resolved: versions/<v>). RESTART_FAILED on failure. */
  restart(modelDir: string, opts?: { signal?: AbortSignal }): Promise<RestartOutcome | undefined>;
  /** Stops the service if this agent runs it (supervise mode); no-op in command mode. */
  stop(): Promise<void>;
  /**
   * Aborts (reason: EdgeError SERVICE_CRASHED) when the service exits unexpectedly
   * after the latest restart(). Command mode: never aborts.
   */
  crashSignal(): AbortSignal;
  describe(): ServiceDescription;
  /**
   * At start, before recovery: deals with what a previous agent process left
   * running (supervise: stops it; hand-over: keeps serving through it until a
   * version of its own takes over).
   */
  recoverOrphans?(): Promise<void>;
  /** After a commit: previous versions still running (hand-over standby) drain and stop. */
  settle?(): Promise<void>;
  /**
   * Hand-over mode: `url` (through the proxy's port) on the serving version's own loopback port, so a
   * readiness probe or a scrape judges the version and never queues behind client traffic in the proxy.
   */
  directUrl?(url: string): string;
  /** Hand-over mode: the proxy's per-version counters, Prometheus text (the agent's /metrics and the gates read it). */
  proxyMetrics?(): string;
  /** The agent is exiting: listeners it holds close (after stop()). */
  close?(): Promise<void>;
}
