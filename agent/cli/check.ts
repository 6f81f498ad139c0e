import { attemptJsonOrNull } from "../telemetry/attempt-json.js";
import { type CliContext, EXIT, printJson } from "./context.js";
import { dryRunCommand } from "./dry-run.js";
import { viaDaemonOrLocally } from "./one-shot.js";

/** `edge-agent check`: poll once now, install anything new, exit with the result (0 up to date or updated, 1 otherwise). */
export async function checkCommand(ctx: CliContext): Promise<number> {
  if (ctx.flags["dry-run"] === true) return dryRunCommand(ctx, "check");
  const { result, via } = await viaDaemonOrLocally(ctx, "/check", {}, (agent) => agent.check("cli", { wait: true }));
  const attempt = result.attempt;
  const ok = attempt
    ? attempt.result === "succeeded"
    : result.decision.action === "none" && result.decision.reason === "up-to-date";
  if (ctx.json) {
    printJson(ctx, { ok, via, ...result, attempt: attemptJsonOrNull(attempt) });
    return ok ? EXIT.OK : EXIT.FAILED;
  }
  if (!attempt) {
    const d = result.decision;
    ctx.out(`${d.action === "none" ? d.detail : `installing ${result.version}`} (channel sequence ${result.sequence})\n`);
  } else if (attempt.result === "succeeded") {
    ctx.out(`updated ${attempt.fromVersion ?? "none"} -> ${attempt.toVersion}\n`);
  } else {
    const rb = attempt.rollbackErrorCode
      ? `; rollback failed: ${attempt.rollbackErrorCode}: ${attempt.rollbackErrorMessage}`
      : "";
    ctx.out(
      `update to ${attempt.toVersion} ${attempt.result}: ${attempt.errorCode}: ${attempt.errorMessage}${rb}\nactive version: ${attempt.result === "rolled_back" ? attempt.fromVersion : "see edge-agent status"}\n`,
    );
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}
