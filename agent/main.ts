#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { completionCommand } from "../shared/cli-completion.js";
import { readInvocation, reportFailure } from "../shared/cli-options.js";
import { EdgeError } from "../shared/errors.js";
import { allowCommand } from "./cli/allow.js";
import { checkCommand } from "./cli/check.js";
import { configCommand } from "./cli/config-check.js";
import type { CliContext } from "./cli/context.js";
import { historyCommand } from "./cli/history.js";
import { holdCommand } from "./cli/hold.js";
import { installCommand } from "./cli/install.js";
import { rollbackCommand } from "./cli/rollback.js";
import { runDaemon } from "./cli/run.js";
import { AGENT_CLI } from "./cli/spec.js";
import { statusCommand } from "./cli/status.js";
import { verifyCommand } from "./cli/verify.js";
import { DEFAULT_CONFIG_PATH, loadConfig } from "./config.js";
import { createRootLogger } from "./logging.js";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const invocation = readInvocation(AGENT_CLI, argv, packageVersion);
  if (invocation.kind === "print") {
    process.stdout.write(invocation.text);
    return invocation.exit;
  }
  const { command, values, positionals } = invocation;
  const configPath = typeof values.config === "string" ? values.config : DEFAULT_CONFIG_PATH;
  const json = values.json === true;
  const out = (text: string) => process.stdout.write(text);
  // Checks the file only: it must answer even for a config the other commands refuse.
  if (command === "config") return configCommand({ configPath, json, positionals, out });
  if (command === "completion") return completionCommand(AGENT_CLI, positionals, out);

  const config = await loadConfig(configPath);
  const daemon = command === "run";
  // The daemon logs JSON to stdout for journald; one-shot commands keep stdout for their answer.
  const logger = daemon ? createRootLogger(config.logLevel, 1) : createRootLogger(values.verbose ? "info" : "warn", 2);
  const faultPoint = process.env.EDGEPULL_FAULT;
  const ctx: CliContext = {
    agentVersion: packageVersion(),
    agentOptions: {
      serviceOutput: daemon ? "stdout" : "stderr",
      fault: faultPoint
        ? (point) => {
            if (point !== faultPoint) return;
            logger.fatal({ point }, "EDGEPULL_FAULT: killing this process with SIGKILL");
            process.kill(process.pid, "SIGKILL");
          }
        : undefined,
    },
    config,
    json,
    positionals,
    flags: values as CliContext["flags"],
    logger,
    out,
    ...(process.stdout.isTTY && process.stdout.columns > 0 ? { columns: process.stdout.columns } : {}),
    progress: process.stderr,
  };
  switch (command) {
    case "run": {
      const stop = new Promise<void>((resolve) => {
        process.once("SIGTERM", () => resolve());
        process.once("SIGINT", () => resolve());
      });
      return runDaemon(ctx, stop);
    }
    case "status":
      return statusCommand(ctx);
    case "history":
      return historyCommand(ctx);
    case "verify":
      return verifyCommand(ctx);
    case "check":
      return checkCommand(ctx);
    case "rollback":
      return rollbackCommand(ctx);
    case "allow":
      return allowCommand(ctx);
    case "install":
      return installCommand(ctx);
    case "hold":
      return holdCommand(ctx, true);
    case "release-hold":
      return holdCommand(ctx, false);
    default:
      throw new EdgeError("USAGE", `unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (thrown) => {
    process.exitCode = reportFailure("edge-agent", thrown, process.argv.slice(2), {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    });
  },
);
