import { activate } from "./activate.js";
import { download } from "./download.js";
import { probation } from "./probation.js";
import { rebuildFromDelta } from "./rebuild-from-delta.js";
import { restart } from "./restart.js";
import { rollBack } from "./roll-back.js";
import { stageBundle } from "./stage-bundle.js";
import type { StepExecutors } from "./step.js";
import { validate } from "./validate.js";
import { waitWindow } from "./wait-window.js";

/** The executor of every step, by name (typed over the phase union: a missing one is a compile error). */
export const STEPS: StepExecutors = {
  download,
  "stage-bundle": stageBundle,
  "rebuild-from-delta": rebuildFromDelta,
  validate,
  "wait-window": waitWindow,
  activate,
  restart,
  probation,
  "roll-back": rollBack,
};
