import { rm } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError } from "../../../shared/errors.js";
import { versionDir } from "../../install/layout.js";
import type { Logger } from "../../logging.js";
import { memoryScope } from "../../service/memory-scope.js";
import { killRecordedProcess, writePidFile } from "../../service/orphan.js";
import { readProcStat } from "../../service/process-group.js";
import { runValidator, type ValidatorOutcome } from "../../service/validation-runner.js";
import { DONE, type StepExecutor } from "./step.js";

/** SIGTERM at the deadline, SIGKILL this long after (the README's `validate.timeoutSeconds` says 5 s). */
const KILL_GRACE_MS = 5000;
/** How long a validator a killed agent left behind gets to go before SIGKILL. */
const ORPHAN_STOP_MS = 2000;

/**
 * validating: the operator's `validate.command` checks the staged version
 * before anything stops the serving one. It runs in the staged folder with
 * EDGEPULL_MODEL_DIR (that folder) and EDGEPULL_ACTIVE_DIR (the serving
 * version's, absent on a first install); exit 0 passes, anything else fails
 * the attempt with VALIDATION_FAILED, the cause and the end of its stderr.
 * Run again from the start when the agent restarts mid-way: it only reads.
 */
export const validate: StepExecutor<"validate"> = async (_phase, ctx) => {
  const { config, layout, logger } = ctx.deps;
  const spec = config.validate;
  const { toVersion, fromVersion, id } = ctx.attempt;
  if (!spec) {
    // A journal left in `validating` by a config that has since dropped the section.
    logger.warn({ attempt: id, version: toVersion }, "no validate command configured any more; validation skipped");
    return DONE;
  }
  const pidFile = join(layout.dataDir, "validator.pid");
  // A validator the previous agent process was running when it died must not run beside this one.
  await killRecordedProcess(pidFile, ORPHAN_STOP_MS, logger, "validator");
  const modelDir = versionDir(layout, toVersion);
  const env: Record<string, string | undefined> = { ...process.env, EDGEPULL_MODEL_DIR: modelDir };
  if (fromVersion) env.EDGEPULL_ACTIVE_DIR = versionDir(layout, fromVersion);
  else delete env.EDGEPULL_ACTIVE_DIR;
  const wrapper = spec.memoryMaxMiB === undefined ? undefined : await memoryWrapper(spec.memoryMaxMiB, logger);
  logger.info({ attempt: id, version: toVersion, command: spec.command, memoryMaxMiB: spec.memoryMaxMiB }, "validating");
  let recorded: Promise<void> = Promise.resolve();
  let outcome: ValidatorOutcome;
  try {
    outcome = await runValidator({
      command: spec.command,
      cwd: modelDir,
      env,
      timeoutMs: spec.timeoutSeconds * 1000,
      killGraceMs: KILL_GRACE_MS,
      wrapper,
      memoryCapped: wrapper !== undefined,
      signal: ctx.signal,
      onSpawn: (pid) => {
        recorded = readProcStat(pid).then((stat) =>
          writePidFile(pidFile, { pid, startTime: stat?.startTime ?? null, command: [...spec.command] }),
        );
      },
    });
  } finally {
    await recorded.catch((err) => logger.warn({ err }, "could not record the validator's pid"));
    await rm(pidFile, { force: true });
  }
  if (outcome.passed) {
    logger.info({ attempt: id, version: toVersion }, "validation passed");
    return DONE;
  }
  logger.warn({ attempt: id, version: toVersion, cause: outcome.cause, stdoutTail: outcome.stdoutTail }, "validation failed");
  throw new EdgeError("VALIDATION_FAILED", failureMessage(spec.command, outcome.cause, outcome.stderrTail));
};

export function failureMessage(command: readonly string[], cause: string, stderrTail: readonly string[]): string {
  const head = `validator ${command.join(" ")} failed: ${cause}`;
  if (stderrTail.length === 0) return `${head}; it wrote nothing to stderr`;
  return `${head}; last ${stderrTail.length} line(s) of stderr: ${stderrTail.join(" | ")}`;
}

let uncappedLogged = false;

/** The systemd-run prefix that enforces the cap, or undefined (said once per agent process) where none can. */
async function memoryWrapper(memoryMaxMiB: number, logger: Logger): Promise<string[] | undefined> {
  const scope = await memoryScope();
  if (scope.enforced) return scope.prefix(memoryMaxMiB);
  if (!uncappedLogged) {
    uncappedLogged = true;
    logger.warn(
      { memoryMaxMiB, reason: scope.reason },
      `validate.memoryMaxMiB is not enforced on this device (${scope.reason}); the validator runs as a plain process group`,
    );
  }
  return undefined;
}
