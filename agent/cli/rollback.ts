import { attemptJson } from "../telemetry/attempt-json.js";
import { type CliContext, EXIT, printJson } from "./context.js";
import { viaDaemonOrLocally } from "./one-shot.js";

/** `edge-agent rollback`: back to the previous version, health-checked; the version left is deny-listed. */
export async function rollbackCommand(ctx: CliContext): Promise<number> {
  const { result: attempt, via } = await viaDaemonOrLocally(ctx, "/rollback", {}, (agent) => agent.rollback("cli"));
  const ok = attempt.result === "succeeded";
  if (ctx.json) printJson(ctx, { ok, via, attempt: attemptJson(attempt) });
  else if (ok) {
    ctx.out(
      `rolled back ${attempt.fromVersion} -> ${attempt.toVersion}; ${attempt.fromVersion} is deny-listed (edge-agent allow ${attempt.fromVersion} to undo)\n`,
    );
  } else {
    ctx.out(`rollback to ${attempt.toVersion} ${attempt.result}: ${attempt.errorCode}: ${attempt.errorMessage}\n`);
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}
