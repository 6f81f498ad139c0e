import type { ServiceController } from "./service/controller.js";
import type { StateStore } from "./state/store.js";

/**
 * What the update core needs from the world, in one place. The daemon gets the
 * real ones from the wiring (agent/wiring.ts); tests pass fakes
 * (test/helpers/core-fakes.ts) and run whole attempts in-process.
 */

/** Time, for everything the core decides by it or waits on. */
export interface Clock {
  now(): Date;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface DiskSpace {
  mount: string;
  availableBytes: number;
  sizeBytes: number;
}

/** Free space on the filesystem holding a path. */
export interface DiskProbe {
  spaceFor(path: string): Promise<DiskSpace>;
}

/** Memory a new allocation can get without swapping. */
export interface MemoryProbe {
  availableBytes(): Promise<number>;
}

/**
 * Crash-test fault injection: called at named points (`before:<phase>` after
 * the journal write and before the side effect, `after:<phase>` after it,
 * `mid:downloading`, `mid:staging` and `mid:patching` halfway through the
 * bytes; `handover:<step>:<version>` in hand-over mode, named by the version
 * taking over, so a fault meant for one update is not hit while an agent
 * recovers the one before). The composition root makes it SIGKILL only when EDGEPULL_FAULT names
 * a point; everywhere else it does nothing.
 */
export type FaultHook = (point: string) => void;

/** The journal calls the update core makes (all SQL stays in state/store.ts). */
export type JournalStore = Pick<
  StateStore,
  | "beginAttempt"
  | "setPhase"
  | "setError"
  | "setBytesDownloaded"
  | "setDelivery"
  | "setDeltaFallback"
  | "setBytesSaved"
  | "setHandover"
  | "finishAttempt"
  | "getAttempt"
  | "recordVersion"
  | "getVersion"
  | "listVersions"
  | "removeVersion"
  | "deny"
  | "isDenied"
  | "clearDenied"
  | "setPreviousVersion"
  | "previousVersion"
>;

export type { ServiceController };

export interface CorePorts {
  clock: Clock;
  disk: DiskProbe;
  memory: MemoryProbe;
  service: ServiceController;
  store: JournalStore;
  fault: FaultHook;
}

export const NO_FAULTS: FaultHook = () => {};
