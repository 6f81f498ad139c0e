import { readStatus } from "../telemetry/status-snapshot.js";
import { type CliContext, EXIT, printJson } from "./context.js";
import { statusText } from "./status-text.js";

/** `edge-agent status`: exit 0 when healthy, 1 when degraded (each problem listed). */
export async function statusCommand(ctx: CliContext): Promise<number> {
  const s = await readStatus(ctx.config);
  if (ctx.json) printJson(ctx, s);
  else ctx.out(statusText(s, ctx.columns));
  return s.healthy ? EXIT.OK : EXIT.FAILED;
}
