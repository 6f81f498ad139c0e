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
}

export interface ServiceController {
  /** (Re)starts the service on the given version folder (absolute, already resolved: versions/<v>). RESTART_FAILED on failure. */
  restart(modelDir: string): Promise<void>;
  /** Stops the service if this agent runs it (supervise mode); no-op in command mode. */
  stop(): Promise<void>;
  /**
   * Aborts (reason: EdgeError SERVICE_CRASHED) when the service exits unexpectedly
   * after the latest restart(). Command mode: never aborts.
   */
  crashSignal(): AbortSignal;
  describe(): ServiceDescription;
}
