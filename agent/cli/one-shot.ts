import { Agent } from "../agent.js";
import { callDaemon } from "../control/control-client.js";
import type { ReplyOf, RequestOf } from "../control/envelope.js";
import { layoutFor } from "../install/layout.js";
import type { DaemonRoutes } from "../wiring/control-routes.js";
import type { CliContext } from "./context.js";
import { progressHooks } from "./progress-hooks.js";

/**
 * Runs a device-changing command: through the running daemon when there is one
 * (it holds the lock), otherwise in this process, after the same recovery the
 * daemon runs at start.
 */
export async function viaDaemonOrLocally<K extends keyof DaemonRoutes>(
  ctx: CliContext,
  route: K,
  request: RequestOf<DaemonRoutes, K>,
  local: (agent: Agent) => Promise<ReplyOf<DaemonRoutes, K>>,
): Promise<{ result: ReplyOf<DaemonRoutes, K>; via: "daemon" | "local" }> {
  const layout = layoutFor(ctx.config.dataDir);
  const remote = await callDaemon<DaemonRoutes, K>(layout.controlSocket, route, request);
  if (remote !== undefined) return { result: remote, via: "daemon" };
  // Progress is shown only here: through the daemon the command waits for its one answer.
  const hooks = progressHooks(ctx);
  const agent = await Agent.open(ctx.config, ctx.logger, `cli ${route.slice(1)}`, { ...ctx.agentOptions, ...hooks });
  try {
    await agent.recover();
    return { result: await local(agent), via: "local" };
  } finally {
    hooks.finish();
    await agent.stop({ stopService: true });
  }
}
