import { wireDaemon } from "../wiring/daemon.js";
import type { CliContext } from "./context.js";

/**
 * The daemon: recovery first, then the control socket, MQTT push (when
 * configured) and the poll loop, until `stopRequested` resolves (the
 * composition root wires it to SIGTERM/SIGINT).
 */
export async function runDaemon(ctx: CliContext, stopRequested: Promise<void>): Promise<number> {
  const daemon = await wireDaemon(ctx);
  await daemon.start();
  await stopRequested;
  await daemon.stop();
  return 0;
}
