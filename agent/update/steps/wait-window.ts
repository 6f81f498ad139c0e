import { insideWindow } from "../maintenance-window.js";
import { DONE, type StepExecutor } from "./step.js";

/** waiting: holds a staged version until a maintenance window opens; a newer release may still supersede it. */
export const waitWindow: StepExecutor<"wait-window"> = async (_phase, ctx) => {
  const { config, ports, logger } = ctx.deps;
  const windows = config.maintenanceWindows;
  const { clock } = ports;
  if (insideWindow(windows, clock.now())) return DONE;
  logger.info(
    { attempt: ctx.attempt.id, version: ctx.attempt.toVersion, windows },
    "staged; waiting for a maintenance window to activate",
  );
  // Windows are set in whole minutes: look again just after each minute turns.
  while (!insideWindow(windows, clock.now())) await clock.sleep(60_050 - (clock.now().getTime() % 60_000), ctx.signal);
  return DONE;
};
