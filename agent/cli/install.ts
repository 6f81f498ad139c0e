import { resolve } from "node:path";
import { EdgeError } from "../../shared/errors.js";
import { attemptJsonOrNull } from "../telemetry/attempt-json.js";
import { type CliContext, EXIT, printJson } from "./context.js";
import { dryRunCommand } from "./dry-run.js";
import { viaDaemonOrLocally } from "./one-shot.js";

/** `edge-agent install BUNDLE_OR_FOLDER`: offline install, verified and health-checked like a download. */
export async function installCommand(ctx: CliContext): Promise<number> {
  if (ctx.flags["dry-run"] === true) return dryRunCommand(ctx, "install");
  const target = ctx.positionals[0];
  if (!target) throw new EdgeError("USAGE", "name the bundle file (or a folder holding one) to install");
  const path = resolve(target);
  const { result, via } = await viaDaemonOrLocally(ctx, "/install", { path }, (agent) => agent.installLocal(path, "sideload"));
  const attempt = result.attempt;
  const ok = attempt ? attempt.result === "succeeded" : true;
  if (ctx.json) printJson(ctx, { ok, via, ...result, attempt: attemptJsonOrNull(attempt) });
  else if (!attempt) ctx.out(`${result.detail}\n`);
  else if (ok) ctx.out(`installed ${result.version} from ${result.bundle} (was ${attempt.fromVersion ?? "none"})\n`);
  else ctx.out(`install of ${result.version} ${attempt.result}: ${attempt.errorCode}: ${attempt.errorMessage}\n`);
  return ok ? EXIT.OK : EXIT.FAILED;
}
