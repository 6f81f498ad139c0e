import { EdgeError, toEdgeError } from "../../../shared/errors.js";
import type { ReleaseManifest } from "../../../shared/manifest.js";
import type { PublicKeyInfo } from "../../../shared/signature.js";
import type { AgentConfig } from "../../config.js";
import type { Layout } from "../../install/layout.js";
import type { Logger } from "../../logging.js";
import type { CorePorts } from "../../ports.js";
import type { AttemptRow } from "../../state/store.js";
import type { AttemptFacts, StepName, StepOf } from "../attempt-state.js";

/** Everything the update core is built from: configuration, paths and ports. */
export interface CoreDeps {
  config: AgentConfig;
  layout: Layout;
  ports: CorePorts;
  /** Keys for re-checking what the journal recorded: every key trusted at some point. */
  recordedKeys: () => PublicKeyInfo[];
  logger: Logger;
  /** Called on every journaled phase change, for status reporters. */
  onPhase?: (attempt: AttemptRow) => void;
  onDownloadProgress?: (received: number, total: number) => void;
  /** Payload bytes extracted or rebuilt so far, of the release's total (for a progress bar). */
  onStagingProgress?: (done: number, total: number) => void;
}

/** What one step of one attempt runs with. */
export interface StepContext {
  readonly deps: CoreDeps;
  readonly attempt: AttemptFacts;
  readonly signal: AbortSignal;
  /** Bytes this attempt has received so far (as the journal has them). */
  readonly tally: { bytesDownloaded: number };
}

/** A step either did its work or found the delta unusable; any other failure is thrown. */
export type StepResult = { type: "done" } | { type: "delta-unusable"; error: EdgeError };

export const DONE: StepResult = { type: "done" };

export type StepExecutor<K extends StepName> = (phase: StepOf<K>, ctx: StepContext) => Promise<StepResult>;

/** One executor per step: a step without one does not compile. */
export type StepExecutors = { readonly [K in StepName]: StepExecutor<K> };

export function requireRelease(ctx: StepContext): ReleaseManifest {
  const release = ctx.attempt.release?.manifest;
  if (!release) {
    throw new EdgeError("INTERNAL", `attempt ${ctx.attempt.id} has no release manifest to install from`);
  }
  return release;
}

/** Any failure on the delta path gives the delta up, unless the attempt is being stopped. */
export function deltaUnusable(ctx: StepContext, thrown: unknown): StepResult {
  if (ctx.signal.aborted) throw thrown;
  return { type: "delta-unusable", error: toEdgeError(thrown, "DELTA_FAILED") };
}

/**
 * A URL of the service as the update core probes or scrapes it: in hand-over mode on the serving
 * version's own port (a probe must judge the version, not queue behind clients in the proxy).
 */
export function serviceUrl(ctx: Pick<StepContext, "deps">, url: string): string {
  return ctx.deps.ports.service.directUrl?.(url) ?? url;
}

export function payloadBytes(release: ReleaseManifest): number {
  return release.files.reduce((sum, f) => sum + f.size, 0);
}

export function mib(bytes: number): number {
  return Math.ceil(bytes / (1024 * 1024));
}
