import { EdgeError, toEdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";
import type { DiskProbe, MemoryProbe, ServiceController } from "../ports.js";
import { type StepEvent, transition } from "../update/attempt-machine.js";
import { type AttemptFacts, type AttemptPhase, stepFor } from "../update/attempt-state.js";
import { type Delivery, describeDelivery } from "../update/delivery.js";
import { STEPS } from "../update/steps/registry.js";
import type { CoreDeps, StepContext, StepExecutor } from "../update/steps/step.js";
import type { DryWorld } from "./dry-world.js";

/** What a dry run found: the delivery, and whether staging verified (or the error that stopped it). */
export interface DryStageOutcome {
  ok: boolean;
  delivery: { kind: Delivery["kind"]; reason: Delivery["reason"]; detail: string };
  /** The delta was given up and the bundle used instead (what a real attempt would do too). */
  deltaFallback?: { code: string; message: string };
  bytesDownloaded: number;
  /** The steps that ran, in order: download, stage-bundle, rebuild-from-delta. */
  steps: string[];
  error?: { code: string; message: string };
}

export interface DryStageDeps {
  world: DryWorld;
  logger: Logger;
  disk: DiskProbe;
  memory: MemoryProbe;
  signal: AbortSignal;
  onDownloadProgress?: (received: number, total: number) => void;
  onStagingProgress?: (done: number, total: number) => void;
}

/** A dry run never restarts, stops or starts the service; reaching it here is a bug. */
const NO_SERVICE: ServiceController = {
  restart: () => Promise.reject(new EdgeError("INTERNAL", "a dry run does not restart the service")),
  stop: () => Promise.resolve(),
  crashSignal: () => new AbortController().signal,
  describe: () => ({ mode: "command", running: false, restarts: 0 }),
};

/**
 * Runs an attempt's download and staging steps (the real executors: disk,
 * folder-cap and memory checks, signed size and SHA-256, safe extraction,
 * every file against the manifest) in the dry run's private folder, following
 * the attempt machine for a delta given up; stops where a real attempt would
 * wait for a window or swap `current`.
 */
export async function dryStage(deps: DryStageDeps, attempt: AttemptFacts, delivery: Delivery): Promise<DryStageOutcome> {
  const { world } = deps;
  const core: CoreDeps = {
    config: world.config,
    layout: world.layout,
    ports: {
      clock: world.clock,
      disk: deps.disk,
      memory: deps.memory,
      service: NO_SERVICE,
      store: world.store,
      fault: () => {},
    },
    recordedKeys: () => world.keyRing.everTrusted(),
    logger: deps.logger,
    onDownloadProgress: deps.onDownloadProgress,
    onStagingProgress: deps.onStagingProgress,
  };
  const ctx: StepContext = { deps: core, attempt, signal: deps.signal, tally: { bytesDownloaded: 0 } };
  const outcome: DryStageOutcome = {
    ok: false,
    delivery: { kind: delivery.kind, reason: delivery.reason, detail: describeDelivery(delivery) },
    bytesDownloaded: 0,
    steps: [],
  };
  let phase: AttemptPhase = stepFor("downloading", { delivery });
  while (phase.step === "download" || phase.step === "stage-bundle" || phase.step === "rebuild-from-delta") {
    outcome.steps.push(phase.step);
    const event = await runStep(phase, ctx);
    outcome.bytesDownloaded = ctx.tally.bytesDownloaded;
    if (event.type === "failed") {
      outcome.error = { code: event.error.code, message: event.error.message };
      return outcome;
    }
    if (event.type === "delta-unusable") outcome.deltaFallback = { code: event.error.code, message: event.error.message };
    phase = transition({ attempt, phase }, event, { probationSeconds: 0, hasWindows: false }).next;
  }
  outcome.ok = phase.step === "activate";
  return outcome;
}

async function runStep(phase: Extract<AttemptPhase, { delivery: unknown }>, ctx: StepContext): Promise<StepEvent> {
  try {
    const step = STEPS[phase.step] as StepExecutor<typeof phase.step>;
    return await step(phase as never, ctx);
  } catch (thrown) {
    return { type: "failed", error: toEdgeError(thrown) };
  }
}
