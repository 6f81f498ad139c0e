import { EdgeError } from "../../shared/errors.js";
import type { ReleaseManifest } from "../../shared/manifest.js";
import type { ReleaseOrigin } from "../sources/sideload.js";
import type { ActivePhase, AttemptResult } from "../state/phases.js";
import type { Delivery, DeltaDelivery, WholeDelivery } from "./delivery.js";

/** What an attempt is: fixed when it begins (or is resumed from the journal). */
export interface AttemptFacts {
  id: number;
  kind: "update" | "rollback";
  fromVersion: string | null;
  toVersion: string;
  /** The release to install and where it came from; undefined for a rollback, which installs nothing. */
  release: { manifest: ReleaseManifest; origin: ReleaseOrigin } | undefined;
  /** The release record exactly as journaled, kept with the staged version. */
  releaseJson: string | null;
  releaseDigest: string | null;
}

/**
 * The step an attempt is in, with what that step needs: the delivery while
 * files arrive and are staged, the cause while rolling back. Each step has one
 * executor in steps/ and one journal phase (JOURNAL_PHASE): the journal keeps
 * the phase names `status` and `history` (and older agents) read.
 */
export type StepPhase =
  | { step: "download"; delivery: Delivery }
  | { step: "stage-bundle"; delivery: WholeDelivery }
  | { step: "rebuild-from-delta"; delivery: DeltaDelivery }
  | { step: "validate" }
  | { step: "wait-window" }
  | { step: "activate" }
  | { step: "restart" }
  | { step: "probation" }
  | { step: "roll-back"; cause: EdgeError | undefined };

/** How a run of the attempt ends: with a result in the journal, or left open to resume on the next start. */
export type EndPhase = { step: "ended"; result: AttemptResult } | { step: "interrupted"; error: EdgeError };

export type AttemptPhase = StepPhase | EndPhase;
export type StepName = StepPhase["step"];
export type StepOf<K extends StepName> = Extract<StepPhase, { step: K }>;

export const JOURNAL_PHASE: { readonly [K in StepName]: ActivePhase } = {
  download: "downloading",
  "stage-bundle": "staging",
  "rebuild-from-delta": "staging",
  validate: "validating",
  "wait-window": "waiting",
  activate: "activating",
  restart: "starting",
  probation: "probation",
  "roll-back": "rolling_back",
};

export function isEnd(phase: AttemptPhase): phase is EndPhase {
  return phase.step === "ended" || phase.step === "interrupted";
}

/** What a step carries into the next one. */
export interface Carried {
  delivery?: Delivery;
  cause?: EdgeError;
}

/** The step that runs a journal phase, given what the attempt carries. */
export function stepFor(phase: ActivePhase, carried: Carried): StepPhase {
  switch (phase) {
    case "downloading":
      return { step: "download", delivery: needDelivery(phase, carried) };
    case "staging": {
      const delivery = needDelivery(phase, carried);
      return delivery.kind === "delta" ? { step: "rebuild-from-delta", delivery } : { step: "stage-bundle", delivery };
    }
    case "validating":
      return { step: "validate" };
    case "waiting":
      return { step: "wait-window" };
    case "activating":
      return { step: "activate" };
    case "starting":
      return { step: "restart" };
    case "probation":
      return { step: "probation" };
    case "rolling_back":
      return { step: "roll-back", cause: carried.cause };
  }
}

function needDelivery(phase: ActivePhase, carried: Carried): Delivery {
  if (!carried.delivery) throw new EdgeError("INTERNAL", `phase ${phase} needs a delivery and none was chosen`);
  return carried.delivery;
}

/** What a step hands on to the one after it. */
export function carriedBy(phase: StepPhase): Carried {
  if ("delivery" in phase) return { delivery: phase.delivery };
  if (phase.step === "roll-back") return { cause: phase.cause };
  return {};
}
