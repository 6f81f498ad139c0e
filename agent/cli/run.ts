import { toEdgeError } from "../../shared/errors.js";
import { Agent } from "../agent.js";
import { ControlServer } from "../control/control-server.js";
import type { CliContext } from "./context.js";

/**
 * The daemon: recovery first, then the control socket and the poll loop,
 * until `stop` resolves (the composition root wires it to SIGTERM/SIGINT).
 */
export async function runDaemon(ctx: CliContext, stopRequested: Promise<void>): Promise<number> {
  const { config, logger } = ctx;
  const agent = await Agent.open(config, logger, "daemon", ctx.agentOptions);
  const control = new ControlServer(
    agent.layout.controlSocket,
    {
      "/check": () => agent.check("cli", { wait: true }),
      "/rollback": () => agent.rollback("cli"),
    },
    logger.child({ component: "control" }),
  );
  logger.info(
    { deviceId: config.deviceId, name: config.name, channel: config.channel, dataDir: config.dataDir },
    "agent starting",
  );
  const recovered = agent.recover().catch((err) => {
    const e = toEdgeError(err);
    if (e.code !== "INTERRUPTED") logger.error({ err: e, code: e.code }, "recovery failed");
  });
  await control.start();
  const started = recovered.then(() => {
    if (!agent.stopping.aborted) agent.startPolling();
  });
  await stopRequested;
  logger.info("agent stopping");
  await control.stop();
  await agent.stop({ stopService: config.service.mode === "supervise" });
  await started;
  logger.info("agent stopped");
  return 0;
}
