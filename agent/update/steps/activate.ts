import { activateVersion } from "../../install/activate.js";
import { DONE, type StepExecutor } from "./step.js";

/** activating: `current` is swapped to the new version (temporary link renamed over it, folder fsynced). */
export const activate: StepExecutor<"activate"> = async (_phase, ctx) => {
  await activateVersion(ctx.deps.layout, ctx.attempt.toVersion);
  return DONE;
};
